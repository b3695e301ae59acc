"""Remove what a run recorded (harness.runtime.run_record): its processes, directories and containers.

A run's watchdog does it the moment its run dies; ``amq-harness prune`` and the next run do it for
runs whose watchdog died too. Processes are killed only while their pid and start time still match
the record, never by name.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runtime.processes import kill_owned
from harness.runtime.run_record import RunRecord, all_records

log = logging.getLogger("harness.runtime")


@dataclass
class Reaped:
    """What removing one run's leftovers found and removed."""

    run_id: str
    processes: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    docker: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.processes) + len(self.directories) + len(self.docker)

    def summary(self) -> str:
        parts = [
            f"{len(items)} {kind} ({', '.join(items)})"
            for kind, items in (
                ("processes", self.processes),
                ("directories", self.directories),
                ("docker objects", self.docker),
            )
            if items
        ]
        text = "; ".join(parts) or "nothing"
        return text + (f"; problems: {'; '.join(self.problems)}" if self.problems else "")


def _remove_docker_run(docker_run: dict[str, str], reaped: Reaped) -> None:
    try:
        import docker
        import docker.errors

        from harness.runtime.docker_reaper import prune

        client = docker.DockerClient(base_url=docker_run["docker_host"], timeout=30)
        try:
            removed = prune(client, everything=True, progress=lambda _: None, run_id=docker_run["run"])
        finally:
            client.close()
        reaped.docker += removed.containers + removed.networks + removed.volumes
    except Exception as exc:  # an engine that is gone: say so; `amq-harness prune` can try again
        reaped.problems.append(f"docker run {docker_run.get('run')} at {docker_run.get('docker_host')}: {exc}")


def _release_ports(record: RunRecord) -> None:
    """Remove the run's port claims (harness.runtime.ports), so that claims do not pile up."""
    if record.owner is None:
        return
    mine = f"{record.owner.pid} {record.owner.start}"
    for claim in (record.path.parent / "ports").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if claim.read_text() == mine:
                claim.unlink()


def reap_record(record: RunRecord, everything: bool = True) -> Reaped:
    """Kill the run's processes (those still running as recorded), remove its containers and directories.

    ``everything=False`` (a run that ended cleanly and stopped its own) kills only what its teardown
    missed and keeps the directories and containers, which it left for people to look at.
    """
    reaped = Reaped(record.run_id)
    for owned in kill_owned(record.processes):
        reaped.processes.append(f"{owned.what} (pid {owned.pid})")
    _release_ports(record)
    if not everything:
        record.remove()
        return reaped
    for docker_run in record.docker_runs:
        _remove_docker_run(docker_run, reaped)
    for directory in record.directories:
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
            if directory.exists():
                reaped.problems.append(f"could not remove {directory}")
            else:
                reaped.directories.append(str(directory))
    record.remove()
    return reaped


def _being_created(record: RunRecord) -> bool:
    """A record without its owner line yet: another run is writing it this very moment."""
    try:
        return record.owner is None and time.time() - record.path.stat().st_mtime < 10
    except FileNotFoundError:
        return False


def prune_local(
    everything: bool = False,
    progress: Callable[[str], Any] = log.info,
    directory: Path | None = None,
    keep: Path | None = None,
) -> list[Reaped]:
    """Remove the leftovers of every recorded run on this host whose owner and watchdog are both gone.

    ``everything`` also stops runs that are still going. ``keep`` is a record never to touch (the caller's).
    """
    host = socket.gethostname()
    results = []
    for record in all_records(directory):
        if record.path == keep or (record.host and record.host != host):
            continue
        if not everything and (record.owner_running() or record.watchdog_running() or _being_created(record)):
            continue
        reaped = reap_record(record)
        if reaped.count or reaped.problems:
            progress(f"run {record.run_id}: removed {reaped.summary()}")
        results.append(reaped)
    return results
