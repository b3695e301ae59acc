"""Processes as the kernel shows them in /proc: start times, process groups, descendants.

A pid alone names nothing for long: once a process dies its pid is handed out again. A process the
harness started is therefore identified by its pid together with its start time, and is only ever
signalled while both still match, so that a reaper never touches a process that is not the harness's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int, proc: Path = PROC) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state first), or None if the process is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    return stat.rsplit(")", 1)[-1].split()


def process_start_time(pid: int, proc: Path = PROC) -> str | None:
    """The start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or None if gone."""
    fields = _stat_fields(pid, proc)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_group(pid: int, proc: Path = PROC) -> int | None:
    fields = _stat_fields(pid, proc)
    return int(fields[2]) if fields is not None and len(fields) > 2 else None


def _running(pid: int, proc: Path = PROC) -> bool:
    """Alive and not a zombie (a zombie has exited; only its parent's wait is missing)."""
    fields = _stat_fields(pid, proc)
    return fields is not None and fields[0] not in ("Z", "X")


@dataclass(frozen=True)
class OwnedProcess:
    """A process the harness started: pid, start time, process group, and what it is (for people)."""

    pid: int
    start: str
    pgid: int
    what: str

    @classmethod
    def of(cls, pid: int, what: str, proc: Path = PROC) -> OwnedProcess | None:
        """The process as it is now, or None if it has already gone."""
        start = process_start_time(pid, proc)
        pgid = process_group(pid, proc)
        if start is None or pgid is None:
            return None
        return cls(pid, start, pgid, what)

    def is_running(self, proc: Path = PROC) -> bool:
        """Still this very process (same pid and start time), and not a zombie."""
        return process_start_time(self.pid, proc) == self.start and _running(self.pid, proc)


def _children_by_parent(proc: Path = PROC) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name), proc)
        if fields is not None and len(fields) > 2:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _group_members(pgid: int, proc: Path = PROC) -> list[int]:
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit() and process_group(int(entry.name), proc) == pgid:
            members.append(int(entry.name))
    return members


def owned_tree(owned: OwnedProcess, proc: Path = PROC) -> list[int]:
    """The process, its descendants and the members of its process group, if it is still the one recorded.

    Descendants count as well as the group: PostgreSQL's backends each lead a process group of their
    own, yet are children of the postmaster. Nothing is returned once the recorded process is gone:
    its pid, and then its group id, may belong to someone else by now.
    """
    if not owned.is_running(proc):
        return []
    found = {owned.pid}
    children = _children_by_parent(proc)
    pending = [owned.pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    if owned.pgid == owned.pid:  # a group it leads (a session of its own): all of it is ours
        found.update(_group_members(owned.pgid, proc))
    return sorted(found)


def kill_owned(processes: list[OwnedProcess], wait_s: float = 5.0, proc: Path = PROC) -> list[OwnedProcess]:
    """SIGKILL every process (and its tree) still running as recorded; return those that were.

    Every tree is collected before anything is killed: a child whose parent died first is re-parented
    to init and could no longer be told apart from anyone else's.
    """
    trees = {owned: owned_tree(owned, proc) for owned in processes}
    starts = {pid: process_start_time(pid, proc) for pids in trees.values() for pid in pids}
    for pids in trees.values():
        for pid in pids:
            if process_start_time(pid, proc) == starts[pid]:  # not replaced in the meantime
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    remaining = [pid for pids in trees.values() for pid in pids]
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if process_start_time(pid, proc) == starts[pid] and _running(pid, proc)]
        if remaining:
            time.sleep(0.05)
    return [owned for owned, pids in trees.items() if pids]
