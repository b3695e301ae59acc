"""This process's run: register what it starts, so that nothing outlives it.

Anything that starts a process, a server or a container for the harness registers it here
(``register_process(pid, "zookeeper zk1", directory=...)``, ``register_directory(path)``). The first
registration writes the run's record (harness.runtime.run_record), starts its watchdog
(harness.runtime.watchdog) and removes what earlier runs whose watchdog died too left behind.
Registering is cheap and safe to repeat; the owners still stop their processes themselves: the record
is what is left to do if they cannot.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from harness.runtime.docker_labels import RUN_ID
from harness.runtime.leftovers import prune_local
from harness.runtime.processes import OwnedProcess
from harness.runtime.run_record import GOODBYE, WATCHDOG_LOG, RunRecord, state_dir

log = logging.getLogger("harness.runtime")


class HarnessRun:
    """The record and the watchdog of one harness process."""

    def __init__(self, run_id: str = RUN_ID) -> None:
        self.pid = os.getpid()
        directory = state_dir()
        self.record = RunRecord.create(f"{run_id}-{self.pid}", directory)
        prune_local(keep=self.record.path, directory=directory)
        self._pipe: int | None = None
        self._lock = threading.Lock()
        self._start_watchdog(directory)

    def _start_watchdog(self, directory: Path) -> None:
        read_end, write_end = os.pipe()  # both non-inheritable: brokers started later do not hold it
        try:
            with (directory / WATCHDOG_LOG).open("ab") as out:
                watchdog = subprocess.Popen(
                    [sys.executable, "-m", "harness.runtime.watchdog", str(self.record.path)],
                    stdin=read_end,
                    # Never pytest's stdout: a CI job waiting for the end of its output would wait for it.
                    stdout=out,
                    stderr=out,
                    # Its own session: what kills the run's process group (a terminal, a CI runner) spares it.
                    start_new_session=True,
                    env={**os.environ, "PYTHONPATH": _package_root()},
                )
        finally:
            os.close(read_end)
        self._pipe = write_end
        owned = OwnedProcess.of(watchdog.pid, "watchdog")
        if owned is not None:
            self.record.set_watchdog(owned)
        self._watchdog = watchdog  # kept so that its exit status is collected, not left a zombie

    def register_process(self, pid: int, what: str, directory: Path | None = None) -> OwnedProcess | None:
        """Record a process (its whole tree and process group go with it); None if it has already exited."""
        with self._lock:
            if directory is not None:
                self.record.add_directory(Path(directory).resolve())
            owned = OwnedProcess.of(pid, what)
            if owned is not None:
                self.record.add_process(owned)
            return owned

    def register_directory(self, path: Path) -> None:
        with self._lock:
            self.record.add_directory(Path(path).resolve())

    def register_docker_run(self, docker_run_id: str, docker_host: str) -> None:
        with self._lock:
            self.record.add_docker_run(docker_run_id, docker_host)

    def finish(self) -> None:
        """Say goodbye: the watchdog removes whatever is still recorded and the record, then exits."""
        with self._lock:
            if self._pipe is None:
                return
            with contextlib.suppress(OSError):
                os.write(self._pipe, GOODBYE)
            os.close(self._pipe)
            self._pipe = None


def _package_root() -> str:
    """The directory holding the ``harness`` package, so the watchdog imports this very copy."""
    root = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root


_current: HarnessRun | None = None
_current_lock = threading.Lock()


def current_run() -> HarnessRun:
    """This process's run, made on first use (a forked child gets a run of its own)."""
    global _current
    with _current_lock:
        if _current is None or _current.pid != os.getpid():
            _current = HarnessRun()
        return _current


def register_process(pid: int, what: str, directory: Path | None = None) -> OwnedProcess | None:
    """Record a process this run started (and optionally its directory): removed if the run dies."""
    return current_run().register_process(pid, what, directory)


def register_directory(path: Path) -> None:
    """Record a directory this run made: removed if the run dies."""
    current_run().register_directory(path)


def register_docker_run(docker_run_id: str, docker_host: str) -> None:
    """Record that this run makes containers labelled with ``docker_run_id`` on the engine at ``docker_host``."""
    current_run().register_docker_run(docker_run_id, docker_host)


@atexit.register
def _finish() -> None:
    # Registered when this module is first imported, before the runtimes' own atexit hooks (they
    # import it), so it runs after them: the goodbye comes once they have stopped what they could.
    if _current is not None and _current.pid == os.getpid():
        _current.finish()
