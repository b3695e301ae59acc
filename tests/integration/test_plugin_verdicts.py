"""Verdicts on a real pybroker cluster: a scenario's mistakes are `error` with one line, never `fail`;
a run that sent too little is `error: vacuous`, never `pass`."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration

MISTAKES = """
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=2))
def test_unknown_node(cluster, faults):
    faults.kill("amq9")

@pytest.mark.topology(shared_file(nodes=2))
def test_unknown_option(cluster, workload):
    with workload.running(producer=2):
        pass

@pytest.mark.topology(shared_file(nodes=2))
def test_negative_bound(cluster, workload):
    with workload.running(producers=1):
        workload.wait_for_traffic(60)
    workload.check(failover_bound_ms=-1)

@pytest.mark.known_finding(vendor="pybroker", expects=("assertion",), reason="a finding that a typo must not pass for")
@pytest.mark.topology(shared_file(nodes=2))
def test_typo_under_a_known_finding(cluster, faults):
    faults.pause(cluster.master().nmae)
"""

FLOOR = """
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=1))
def test_too_little(cluster, workload):
    workload.produce(5)
    assert workload.check().lost == 0

@pytest.mark.min_attempted(5)
@pytest.mark.topology(shared_file(nodes=1))
def test_small_on_purpose(cluster, workload):
    workload.produce(5)
    assert workload.check().lost == 0
"""


def results(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    text = (pytester.path / "out" / "results.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    return {line["scenario"].split("::")[-1].removesuffix("[pybroker]"): line for line in lines}


def test_scenario_mistakes_are_errors_with_one_line_naming_the_mistake(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mistakes=MISTAKES)
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    run.assert_outcomes(failed=4)
    run.stdout.fnmatch_lines(
        ["*error: scenario mistake: unknown node `amq9`; known nodes amq1, amq2 (at test_mistakes.py:6)*"]
    )
    lines = results(pytester)
    assert {name: line["verdict"] for name, line in lines.items()} == {
        "test_unknown_node": "error",
        "test_unknown_option": "error",
        "test_negative_bound": "error",
        "test_typo_under_a_known_finding": "error",
    }
    assert lines["test_unknown_node"]["reason"] == (
        "scenario mistake: unknown node `amq9`; known nodes amq1, amq2 (at test_mistakes.py:6)"
    )
    assert lines["test_unknown_option"]["reason"].startswith(
        "scenario mistake: unknown workload.running option `producer` (did you mean `producers`?); "
        "known workload.running options "
    )
    assert lines["test_negative_bound"]["reason"].startswith(
        "scenario mistake: workload.check: failover_bound_ms must be zero or more, not -1"
    )
    # Under a known finding, a typo is not the finding: pytest shows it as a failure, the line as an error.
    typo = lines["test_typo_under_a_known_finding"]["reason"]
    assert typo.startswith("scenario or harness mistake: AttributeError: "), typo
    assert typo.endswith("object has no attribute 'nmae' (at test_mistakes.py:22)"), typo


def test_a_run_below_the_floor_is_vacuous_unless_the_scenario_lowers_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_floor=FLOOR)
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    run.assert_outcomes(failed=1, passed=1)
    run.stdout.fnmatch_lines(["*error: vacuous: the workload attempted 5 sends, fewer than the floor of 50*"])
    lines = results(pytester)
    assert lines["test_too_little"]["verdict"] == "error"
    assert lines["test_too_little"]["reason"].startswith("vacuous: the workload attempted 5 sends")
    assert lines["test_too_little"]["figures"]["attempted"] == 5
    assert lines["test_small_on_purpose"]["verdict"] == "pass"
