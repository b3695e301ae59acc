"""`amq-harness` as a person runs it from a terminal, for the integration tests of `up` and `fault`."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time


class Terminal:
    """``amq-harness up`` in a process of its own, its output read line by line."""

    def __init__(self, argv: list[str], env: dict[str, str], wait_s: float = 60) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "harness.cli", *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.wait_s = wait_s
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        """The first line from now on that matches ``pattern``; fails the test after ``timeout``."""
        within = self.wait_s if timeout is None else timeout
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} within {within} s; saw:\n" + "\n".join(self.seen))


def fault(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``amq-harness fault ARGS`` from a second terminal."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "fault", *args], env=env, capture_output=True, text=True, timeout=60
    )
