"""Replaying a chaos scenario under a given schedule in a fresh pytest process: what shrinking runs for
each candidate, and the command a person runs to see the failure again."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.chaos.schedule import Schedule
from harness.report.results import RESULTS_FILE


def replay_command(nodeid: str, schedule_path: Path, args: Sequence[str] = ()) -> str:
    """``pytest NODEID ... --chaos-schedule FILE`` as a shell line."""
    return shlex.join(["pytest", nodeid, *args, "--chaos-schedule", str(schedule_path)])


def failed_checkers(problems: Sequence[str]) -> set[str]:
    """The checkers a result line's problems name (``[total-queue] ...`` -> ``total-queue``)."""
    return {p[1 : p.index("]")] for p in problems if p.startswith("[") and "]" in p}


def fails_the_same_way(line: Mapping[str, Any], same_as: set[str]) -> bool:
    """A result line with verdict ``fail`` in which one of ``same_as`` (checker names) failed; any
    ``fail`` when ``same_as`` is empty."""
    if line.get("verdict") != "fail":
        return False
    return not same_as or bool(failed_checkers(line.get("problems") or []) & same_as)


class PytestReplay:
    """Runs scenario ``nodeid`` once under a schedule (``pytest ... --chaos-schedule``) and says whether
    it failed the same way: verdict ``fail`` and, when ``same_as`` names checkers (the original run's
    failing ones), at least one of them failing again, so that shrinking keeps the failure it started
    from instead of drifting to another. An ``error`` (the harness or the cluster's set-up went wrong) is
    not a failure of the cluster; a run that wrote no result line is a mistake and raises."""

    def __init__(
        self,
        nodeid: str,
        args: Sequence[str],
        workdir: Path,
        rootdir: Path,
        progress: Callable[[str], None] = lambda line: None,
        same_as: set[str] | None = None,
    ) -> None:
        self.same_as = set(same_as or ())
        self.nodeid = nodeid
        self.args = list(args)
        self.workdir = workdir
        self.rootdir = rootdir
        self.progress = progress
        self.count = 0
        self.verdicts: list[str] = []

    def __call__(self, schedule: Schedule) -> bool:
        self.count += 1
        run_dir = self.workdir / f"run-{self.count:03d}"
        path = schedule.save(run_dir / "schedule.json")
        command = [
            sys.executable,
            "-m",
            "pytest",
            self.nodeid,
            *self.args,
            "--chaos-schedule",
            str(path),
            "--results-dir",
            str(run_dir / "results"),
            "--no-html-report",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        with (run_dir / "pytest.log").open("wb") as log:
            subprocess.run(command, cwd=self.rootdir, stdout=log, stderr=subprocess.STDOUT, check=False)
        results = run_dir / "results" / RESULTS_FILE
        lines = results.read_text(encoding="utf-8").splitlines() if results.exists() else []
        if not lines:
            raise RuntimeError(f"shrink: {shlex.join(command)} wrote no result line (see {run_dir / 'pytest.log'})")
        line = json.loads(lines[-1])
        verdict = str(line["verdict"])
        failing = failed_checkers(line.get("problems") or [])
        self.verdicts.append(f"{verdict} ({', '.join(sorted(failing))})" if failing else verdict)
        return fails_the_same_way(line, self.same_as)
