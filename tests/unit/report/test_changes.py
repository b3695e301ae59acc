import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.changes import compare_result_sets
from harness.report.compare import comparison_json

from .histories import failover_history, result_line


def test_a_cell_that_went_from_pass_to_fail_is_a_regression():
    before = [result_line("s[pybroker]", "pybroker"), result_line("t[pybroker]", "pybroker", "fail")]
    after = [result_line("s[pybroker]", "pybroker", "fail", reason="lost 3"), result_line("t[pybroker]", "pybroker")]
    report = compare_result_sets(before, after)
    assert [(c.scenario, c.kind, c.before, c.after) for c in report.changes] == [
        ("s", "worse", "pass", "fail"),
        ("t", "better", "fail", "pass"),
    ]
    assert [c.scenario for c in report.regressions] == ["s"]
    text = report.markdown()
    assert "| worse | s | pybroker | pass | fail | lost 3 |" in text
    assert text.index("| worse |") < text.index("| better |"), "regressions come first"


def test_new_and_gone_cells_and_a_known_finding_turning_into_a_pass():
    before = [result_line("old[pybroker]", "pybroker"), result_line("k[activemq]", "activemq", "fail", expected="x")]
    after = [result_line("new[pybroker]", "pybroker"), result_line("k[activemq]", "activemq")]
    kinds = {c.scenario: c.kind for c in compare_result_sets(before, after).changes}
    assert kinds == {"old": "gone", "new": "new", "k": "better"}


def test_identical_sets_change_nothing():
    lines = [result_line("s[pybroker]", "pybroker"), result_line("s[activemq]", "activemq", "fail")]
    report = compare_result_sets(lines, lines)
    assert report.changes == [] and report.unchanged == 2
    assert "nothing changed verdict" in report.markdown()


def test_comparison_json_carries_verdicts_marks_and_figures_per_column():
    lines = [
        result_line("s[pybroker]", "pybroker", figures={"failover_ms": [50.0]}),
        result_line("s[activemq]", "activemq", "fail", expected="two masters", problems=["a", "b"]),
    ]
    data = comparison_json(lines)
    assert data["columns"] == ["activemq", "pybroker"]
    (row,) = data["scenarios"]
    assert row["scenario"] == "s"
    assert row["cells"]["activemq"]["known_finding"] == "two masters"
    assert row["cells"]["activemq"]["problems"] == 2
    assert row["cells"]["pybroker"]["figures"] == {"failover_ms": [50.0]}


def _write(directory: Path, *lines: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return directory


def test_cli_changes_and_compare_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    night1 = _write(tmp_path / "night1", result_line("s[pybroker]", "pybroker"))
    night2 = _write(tmp_path / "night2", result_line("s[pybroker]", "pybroker", "fail"))
    assert main(["report", "changes", str(night1), str(night2), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["regressions"] == 1
    assert main(["report", "changes", str(night1), str(night2), "--fail-on-regression"]) == 1
    capsys.readouterr()
    assert main(["report", "compare", str(night2 / "results.jsonl"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["scenarios"][0]["cells"]["pybroker"]["verdict"] == "fail"


def test_cli_html_writes_the_report_and_says_how_long_it_took(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    history = failover_history().save(tmp_path / "run" / "histories" / "h.jsonl")
    run = _write(tmp_path / "run", result_line("s[pybroker]", "pybroker", history=history))
    output = tmp_path / "out" / "index.html"
    assert main(["report", "html", str(run), "-o", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out and 'class="plot timeline"' in output.read_text()
    assert main(["report", "html", str(tmp_path / "none"), "-o", str(output)]) == 2
    assert "run: pytest suites/ha" in capsys.readouterr().err
