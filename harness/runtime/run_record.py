"""What one harness run started, written down as it goes, so that someone else can remove it.

Each harness process (a pytest run, one xdist worker, a bench) is a run with a record file of JSON
lines under the state directory: who owns it (pid and start time), its watchdog, and every process
group, directory and Docker run it made. Lines are appended with one write each, so a run killed at
any moment leaves every finished line readable; a half-written last line is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runtime.processes import OwnedProcess

STATE_DIR_ENV = "AMQ_HARNESS_STATE_DIR"
SUFFIX = ".run.jsonl"
# What a run writes to its watchdog before it ends normally, and where watchdogs log what they removed.
GOODBYE = b"bye\n"
WATCHDOG_LOG = "watchdog.log"


def state_dir() -> Path:
    """Where run records live: $AMQ_HARNESS_STATE_DIR, else one directory per user in /tmp."""
    configured = os.environ.get(STATE_DIR_ENV)
    path = Path(configured) if configured else Path("/tmp") / f"amq-harness-runs.{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def append_line(path: Path, entry: dict[str, Any]) -> None:
    """One JSON line in a single O_APPEND write: concurrent writers and crashes never split a line."""
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"{path}: short write ({written} of {len(line)} bytes)")
    finally:
        os.close(fd)


@dataclass
class RunRecord:
    """The parsed record of one run."""

    path: Path
    run_id: str
    host: str = ""
    owner: OwnedProcess | None = None
    watchdog: OwnedProcess | None = None
    processes: list[OwnedProcess] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)
    docker_runs: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def create(cls, run_id: str, directory: Path | None = None) -> RunRecord:
        path = (directory or state_dir()) / f"{run_id}{SUFFIX}"
        owner = OwnedProcess.of(os.getpid(), "harness run")
        assert owner is not None  # this very process
        record = cls(path, run_id, socket.gethostname(), owner)
        append_line(path, {"run": run_id, "host": record.host, "owner": _process_json(owner)})
        return record

    def add_process(self, owned: OwnedProcess) -> None:
        append_line(self.path, {"process": _process_json(owned)})
        self.processes.append(owned)

    def set_watchdog(self, owned: OwnedProcess) -> None:
        append_line(self.path, {"watchdog": _process_json(owned)})
        self.watchdog = owned

    def add_directory(self, path: Path) -> None:
        append_line(self.path, {"directory": str(path)})
        self.directories.append(path)

    def add_docker_run(self, run_id: str, docker_host: str) -> None:
        entry = {"run": run_id, "docker_host": docker_host}
        if entry not in self.docker_runs:
            append_line(self.path, {"docker": entry})
            self.docker_runs.append(entry)

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        record = cls(path, path.name.removesuffix(SUFFIX))
        with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8") as src:
            for line in src:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the half line of a run killed while writing it
                if "owner" in entry:
                    record.host = str(entry.get("host", ""))
                    record.owner = _process_from(entry["owner"])
                elif "watchdog" in entry:
                    record.watchdog = _process_from(entry["watchdog"])
                elif "process" in entry:
                    record.processes.append(_process_from(entry["process"]))
                elif "directory" in entry:
                    record.directories.append(Path(entry["directory"]))
                elif "docker" in entry:
                    record.docker_runs.append(dict(entry["docker"]))
        return record

    def owner_running(self) -> bool:
        return self.owner is not None and self.owner.is_running()

    def watchdog_running(self) -> bool:
        return self.watchdog is not None and self.watchdog.is_running()

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def all_records(directory: Path | None = None) -> list[RunRecord]:
    return [RunRecord.read(path) for path in sorted((directory or state_dir()).glob(f"*{SUFFIX}"))]


def _process_json(owned: OwnedProcess) -> dict[str, Any]:
    return {"pid": owned.pid, "start": owned.start, "pgid": owned.pgid, "what": owned.what}


def _process_from(entry: dict[str, Any]) -> OwnedProcess:
    return OwnedProcess(int(entry["pid"]), str(entry["start"]), int(entry["pgid"]), str(entry.get("what", "")))
