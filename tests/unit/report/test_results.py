import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.compare import comparison_markdown, scenario_key
from harness.report.results import ScenarioResult, read_results, write_result


def result(scenario: str, vendor: str, verdict: str = "pass", **figures: object) -> ScenarioResult:
    return ScenarioResult(
        scenario=scenario,
        vendor=vendor,
        vendor_version="1",
        runtime="local",
        topology={},
        faults=[],
        verdict=verdict,
        seed=7,
        figures=dict(figures),
        finished_at="2026-01-01T00:00:00",  # type: ignore[arg-type]
    )


def test_results_are_appended_one_json_line_each(tmp_path: Path):
    write_result(tmp_path, result("s[pybroker]", "pybroker"))
    write_result(tmp_path, result("s[activemq]", "activemq", "fail", lost=3))
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["figures"] == {"lost": 3}
    assert [r["vendor"] for r in read_results(tmp_path / "results.jsonl")] == ["pybroker", "activemq"]


def test_reading_a_corrupt_results_file_names_the_line(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"results\.jsonl:2"):
        read_results(path)


def test_scenario_key_drops_only_the_vendor_parameter():
    assert scenario_key({"scenario": "t.py::test_x[2-nodes-activemq]", "vendor": "activemq"}) == "t.py::test_x[2-nodes]"
    assert scenario_key({"scenario": "t.py::test_x[pybroker]", "vendor": "pybroker"}) == "t.py::test_x"


def test_comparison_puts_vendors_side_by_side_with_figures():
    rows = [
        result("t.py::test_x[pybroker]", "pybroker", failover_ms=[120.0, 340.5], max_unavailable_ms=400.2).to_json(),
        result("t.py::test_x[activemq]", "activemq", "fail", lost=2, split_brain=True).to_json(),
        result("t.py::test_y[pybroker]", "pybroker").to_json(),
    ]
    table = comparison_markdown(rows)
    assert "| scenario | activemq | pybroker |" in table
    assert "| t.py::test_x | fail (lost 2, split brain) | pass (failover max 340 ms, longest outage 400 ms) |" in table
    assert "| t.py::test_y | not run | pass |" in table


def test_a_declared_vendor_difference_shows_in_the_comparison():
    differing = result("s[pybroker]", "pybroker").to_json()
    differing["difference"] = "closes the connection after an ERROR"
    table = comparison_markdown([differing, result("s[activemq]", "activemq").to_json()])
    assert "| s | pass | pass, differs on purpose |" in table


def test_cli_compare_without_results_says_how_to_get_some(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["report", "compare", str(tmp_path / "none.jsonl")]) == 2
    assert "run: pytest suites/ha" in capsys.readouterr().err


def test_each_runtime_gets_its_own_column():
    local = result("t.py::test_x[pybroker]", "pybroker").to_json()
    docker = {**result("t.py::test_x[pybroker]", "pybroker", "fail").to_json(), "runtime": "docker"}
    table = comparison_markdown([local, docker])
    assert "| scenario | pybroker | pybroker (docker) |" in table
    assert "| t.py::test_x | pass | fail |" in table
