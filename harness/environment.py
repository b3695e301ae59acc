"""Faults of the machine the harness runs on, told apart from broken promises of the system under test.

A full disk, a Docker engine that stopped, a port another program took between the harness choosing
it and a broker binding it, a JVM or database server that crashes as it starts: none of these says
anything about the brokers, so a scenario they stop is an ``error``, never a ``fail``, and its result
line says what happened in one line. ``environment_fault`` looks at an exception (its whole chain of
causes) and at the scenario's surroundings (directories, ports) and returns that line, or None.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# What a JVM prints when it cannot start or dies by itself (HotSpot's own messages).
JVM_CRASH_SIGNS = (
    "Error occurred during initialization of VM",
    "Could not create the Java Virtual Machine",
    "A fatal error has been detected by the Java Runtime Environment",
    "Could not reserve enough space",
    "hs_err_pid",
)
# Compared in lower case: Java, Python and asyncio spell these differently.
BIND_FAILURE_SIGNS = ("address already in use", "eaddrinuse", "bindexception")
DISK_FULL_SIGNS = ("no space left on device", "enospc", "disk quota exceeded")
# Below this many free bytes a file system counts as full: brokers need room for a journal file.
FULL_BELOW_BYTES = 1 << 20


@dataclass(frozen=True)
class Surroundings:
    """What a scenario used: its directories, and the port of each node (with the node's own pid, if known)."""

    directories: tuple[Path, ...] = ()
    ports: Mapping[str, int] = field(default_factory=dict)
    pids: Mapping[str, int | None] = field(default_factory=dict)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(text: str) -> str:
    return next((line.strip().rstrip(":") for line in text.splitlines() if line.strip()), "")


def _free_bytes(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def full_file_system(directories: Iterable[Path]) -> str | None:
    """The first of these directories whose file system is full, as a line; None if all have room."""
    for directory in directories:
        free = _free_bytes(directory)
        if free is not None and free < FULL_BELOW_BYTES:
            return f"the file system holding {directory} is full ({free // 1024} KiB free)"
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def port_holder(port: int) -> tuple[int, str] | None:
    """The process listening on a TCP port (pid and command name), if this user can see it."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name), (entry / "comm").read_text().strip()
        except OSError:
            continue
    return None


def _taken_port(surroundings: Surroundings) -> str | None:
    for node, port in surroundings.ports.items():
        holder = port_holder(port)
        if holder is not None and holder[0] != surroundings.pids.get(node):
            pid, name = holder
            return (
                f"port {port} of node {node} was taken by another program ({name}, pid {pid}) "
                "between the harness choosing it and the broker binding it"
            )
    return None


def _docker_gone(exc: BaseException) -> str | None:
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    from harness.runtime.engine import EngineUnavailable, engine_address

    if isinstance(exc, EngineUnavailable):
        return _first_line(str(exc))
    engine_errors = ("requests.exceptions.ConnectionError", "urllib3.exceptions.ProtocolError")
    talks_to_engine = kind in engine_errors or (
        kind.startswith("docker.errors.") and "Error while fetching server API version" in str(exc)
    )
    if talks_to_engine:
        return f"the Docker engine at {engine_address()} stopped answering ({_first_line(str(exc))[:200]})"
    return None


def environment_fault(exc: BaseException, surroundings: Surroundings = Surroundings()) -> str | None:
    """One line naming the environment's fault behind ``exc``, or None if it is not one."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" writing {link.filename}" if link.filename else ""
            full = full_file_system([Path(link.filename)] if link.filename else surroundings.directories)
            return f"no space left on device{where}" + (f": {full}" if full else "")
        gone = _docker_gone(link)
        if gone:
            return gone
        kind = type(link).__name__
        text = str(link)
        if kind == "DatabaseUnavailable":
            return f"the database server could not start: {_first_line(text)[:300]}"
        if kind in ("NodeError", "ClusterError"):
            full = full_file_system(surroundings.directories)
            if full or any(sign in text.lower() for sign in DISK_FULL_SIGNS):
                return f"{_first_line(text)}: {full or 'no space left on device'}"
            if any(sign in text.lower() for sign in BIND_FAILURE_SIGNS) or "did not accept STOMP" in text:
                taken = _taken_port(surroundings)
                if taken or "did not accept STOMP" not in text:
                    return taken or f"{_first_line(text)}: its port was already in use"
            sign = next((s for s in JVM_CRASH_SIGNS if s in text), None)
            if sign and "exited during start-up" in text:
                return f"{_first_line(text)}: Java crashed on start ({sign})"
    if any(sign in str(exc).lower() for sign in DISK_FULL_SIGNS):
        return full_file_system(surroundings.directories) or f"no space left on device ({_first_line(str(exc))})"
    return full_file_system(surroundings.directories)
