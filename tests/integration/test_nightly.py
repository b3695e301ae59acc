"""The nightly job: its workflow is valid for GitHub (checked offline against the schema check-jsonschema
bundles), runs the jobs scripts/nightly.sh knows, and nightly.sh's report step turns results into the
merged report, the comparison and what changed since an earlier night."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.history import FAULT_END, FAULT_START, NEMESIS, RECEIVE, SEND, History, MessageKey

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_the_workflow_is_valid_for_github_and_a_broken_one_is_not(tmp_path: Path) -> None:
    checked = _validate(WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "nightly.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1))
    refused = _validate(broken)
    assert refused.returncode != 0, "a job without runs-on must not validate"
    assert "runs_on" in refused.stdout


def _nightly(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "nightly.sh"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=REPO,
    )


def test_the_workflow_runs_every_job_of_nightly_sh() -> None:
    listed = _nightly("jobs")
    assert listed.returncode == 0, listed.stderr
    workflow = YAML(typ="safe").load(WORKFLOW.read_text())
    assert workflow["jobs"]["matrix"]["strategy"]["matrix"]["job"] == listed.stdout.split()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 readers turn the key "on" into True
    assert "schedule" in triggers, "the nightly workflow runs on a schedule"


def test_an_unknown_job_is_refused_with_the_list() -> None:
    refused = _nightly("run", "no-such-job")
    assert refused.returncode == 2 and "jobs: ha-local" in refused.stderr


def _results(directory: Path, verdict: str) -> Path:
    history = History()
    history.record(NEMESIS, "info", FAULT_START, {"fault": "kill", "fault_id": 0, "target": "amq1"}, "amq1")
    history.record(0, "invoke", SEND, MessageKey("p0", 1))
    history.record(0, "ok", SEND, MessageKey("p0", 1), node="amq2")
    history.record(1, "ok", RECEIVE, MessageKey("p0", 1), node="amq2")
    history.record(NEMESIS, "info", FAULT_END, {"fault": "kill", "fault_id": 0, "target": "amq1"}, "amq1")
    saved = history.save(directory / "histories" / "kill.jsonl")
    line = {
        "scenario": "suites/ha/t.py::test_kill[pybroker]",
        "vendor": "pybroker",
        "vendor_version": "0.1.0",
        "runtime": "local",
        "topology": {"name": "shared_file(2)", "groups": []},
        "faults": [{"fault": "kill", "fault_id": 0, "target": "amq1"}],
        "verdict": verdict,
        "seed": 3,
        "figures": {"failover_ms": [12.5]},
        "history": str(saved),
        "finished_at": "2026-12-07T00:00:00+00:00",
    }
    (directory / "results.jsonl").write_text(json.dumps(line) + "\n")
    return directory


def test_the_report_step_merges_results_and_says_what_changed(tmp_path: Path) -> None:
    last_night = _results(tmp_path / "night1", "pass")
    tonight = _results(tmp_path / "night2", "fail")
    out = tmp_path / "nightly"
    step = _nightly("report", str(tonight), env={"NIGHTLY_DIR": str(out), "NIGHTLY_PREVIOUS": str(last_night)})
    assert step.returncode == 0, step.stdout + step.stderr
    assert 'class="plot timeline"' in (out / "index.html").read_text()
    assert (out / "merged" / "histories" / "kill.jsonl").is_file(), "histories travel with the merged results"
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["scenarios"][0]["cells"]["pybroker"]["verdict"] == "fail"
    assert "| worse | suites/ha/t.py::test_kill | pybroker | pass | fail |" in (out / "changes.md").read_text()
