"""What a pytest run leaves for people: the HTML report at its end, allure's plots, environment and
categories, and that the categories really match what allure-pytest writes for each kind of outcome."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

SCENARIOS = """
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=2))
def test_master_killed(cluster, workload, faults):
    with workload.running(producers=1, consumers=1):
        workload.wait_for_traffic(receipts=60)  # above the harness's floor for a run that shows anything
        master = cluster.master()
        with faults.kill(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
    assert workload.check().lost == 0

@pytest.mark.known_finding(
    vendor="pybroker", expects=("assertion",), reason="demonstration: this scenario expects a loss"
)
@pytest.mark.topology(shared_file(nodes=1))
def test_documented_failure(cluster, workload):
    workload.produce(3)
    assert workload.check().lost == 1, "expects a loss a healthy broker does not have"

@pytest.mark.differs_on_purpose(vendor="pybroker", reason="demonstration of a declared difference")
@pytest.mark.topology(shared_file(nodes=1))
def test_declared_difference(stomp, differs):
    assert differs and stomp.connect("1.1").version == "1.1"
"""


def _allure_results(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in directory.glob("*-result.json"):
        data = json.loads(path.read_text())
        found[data["name"].split("[")[0]] = data
    return found


def _category(categories: list[dict[str, Any]], result: dict[str, Any]) -> str | None:
    """The first category that matches, as allure applies them."""
    message = (result.get("statusDetails") or {}).get("message") or ""
    for category in categories:
        if result["status"] not in category.get("matchedStatuses", ["failed", "broken"]):
            continue
        if "messageRegex" in category and not re.fullmatch(category["messageRegex"], message):
            continue
        return str(category["name"])
    return None


def test_a_run_leaves_the_html_report_and_allure_extras(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_scenarios=SCENARIOS)
    run = pytester.runpytest("--results-dir", "out", "--alluredir", "allure", "--seed", "5")
    run.assert_outcomes(passed=2, xfailed=1)
    run.stdout.fnmatch_lines(["*amq-harness: report *index.html (3 results, built in *"])

    report = (pytester.path / "index.html").read_text()
    assert 'class="matrix"' in report and 'class="plot timeline"' in report
    assert "kill amq1" in report or "kill amq2" in report, "the fault window is labelled"

    allure_dir = pytester.path / "allure"
    properties = (allure_dir / "environment.properties").read_text()
    assert "vendor.pybroker=0.1.0" in properties and "seed=5" in properties and "runtime=local" in properties
    svgs = list(allure_dir.glob("*-attachment.svg"))
    assert svgs, "the report's plots are attached to the tests"
    assert all(path.read_text().lstrip().startswith("<svg") for path in svgs)

    categories = json.loads((allure_dir / "categories.json").read_text())
    results = _allure_results(allure_dir)
    assert _category(categories, results["test_documented_failure"]).startswith("Known findings (")
    assert _category(categories, results["test_declared_difference"]).startswith("Differences on purpose")
    assert _category(categories, results["test_master_killed"]) is None, "a plain pass is in no category"


def test_no_html_report_when_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_one="""
import pytest
from harness.topology import shared_file

@pytest.mark.differs_on_purpose(vendor="pybroker", reason="demo")
@pytest.mark.topology(shared_file(nodes=1))
def test_one(stomp, differs):
    assert stomp.connect("1.2").version == "1.2"
"""
    )
    run = pytester.runpytest("--results-dir", "out", "--no-html-report")
    run.assert_outcomes(passed=1)
    assert (pytester.path / "out" / "results.jsonl").is_file()
    assert not (pytester.path / "index.html").exists()


def test_with_xdist_the_controller_writes_one_report_of_every_worker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_two="""
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=1))
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_version(stomp, version):
    assert stomp.connect(version).version == version
"""
    )
    run = pytester.runpytest_subprocess("--results-dir", "out", "-n", "2", "-p", "xdist")
    run.assert_outcomes(passed=2)
    run.stdout.fnmatch_lines(["*amq-harness: report *index.html (2 results, built in *"])
    written = [line for line in run.stdout.lines if "amq-harness: report " in line]
    assert len(written) == 1, f"one report for the run, not one per worker: {written}"
    report = (pytester.path / "index.html").read_text()
    assert report.count('class="scenario pass"') == 2


def test_an_interrupted_run_says_how_to_build_the_report_instead_of_drawing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_stop="""
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=1))
def test_a_first(stomp):
    assert stomp.connect("1.2").version == "1.2"

def test_b_then_ctrl_c():
    raise KeyboardInterrupt
"""
    )
    run = pytester.runpytest_subprocess("--results-dir", "out")
    assert run.ret == pytest.ExitCode.INTERRUPTED
    run.stdout.fnmatch_lines(["*amq-harness: run interrupted, no HTML report (amq-harness report html *out -o *)*"])
    assert (pytester.path / "out" / "results.jsonl").is_file(), "the results are kept"
    assert not (pytester.path / "index.html").exists()
