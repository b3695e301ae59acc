"""Lock-file stealing on a shared-file store: the lock file is deleted or replaced by a new file.

Either way the OS lock the master holds is now on a file that no longer has the lock's name,
so any other node can create and lock a fresh one: a master that does not check its lock keeps
serving (split brain).
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from harness.faults.base import Fault


class LockSteal(Fault):
    kind = "steal-lock"

    def __init__(self, group: str, lock_path: Path, how: Literal["delete", "replace"] = "delete") -> None:
        if how not in ("delete", "replace"):
            raise ValueError(f"lock stealing: how must be 'delete' or 'replace', not {how!r}")
        super().__init__(group, how=how, lock=str(lock_path))
        self.lock_path = lock_path
        self.how = how

    def _inject(self) -> None:
        if not self.lock_path.exists():
            raise FileNotFoundError(f"lock stealing: {self.lock_path} does not exist (is a master running?)")
        if self.how == "delete":
            self.lock_path.unlink()
        else:
            fresh = self.lock_path.with_name(self.lock_path.name + ".stolen")
            fresh.write_text("stolen by amq-harness\n")
            os.replace(fresh, self.lock_path)

    def _heal(self) -> None:
        """Nothing to undo: the brokers recreate the lock file; the fault ends here."""


class LockHolder(Fault):
    """An outside process takes the store's lock file and holds it until healed.

    With ``steal`` the outsider locks a fresh file and renames it over the lock file, so it holds the lock
    the moment the name changes hands, while the master still holds the old inode (a master that does not
    check its lock keeps serving, and no slave can get in first); without it
    the outsider waits for the lock like a slave would, and wins it when the master lets go. While the
    outsider holds the lock no broker may act as master.
    """

    kind = "hold-lock"

    def __init__(self, group: str, lock_path: Path, steal: bool = False, acquire_timeout_s: float = 60.0) -> None:
        super().__init__(group, lock=str(lock_path), steal=steal)
        self.lock_path = lock_path
        self.steal = steal
        self.acquire_timeout_s = acquire_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.held_at: float | None = None

    def _inject(self) -> None:
        if self.steal and not self.lock_path.exists():
            raise FileNotFoundError(f"lock holder: {self.lock_path} does not exist (is a master running?)")
        mode = ["--replace"] if self.steal else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.faults.lock_holder", *mode, str(self.lock_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _source_root()},
        )
        if not self.wait_held(self.acquire_timeout_s if self.steal else 0.0) and self.steal:
            raise RuntimeError(f"lock holder: could not lock {self.lock_path} within {self.acquire_timeout_s:.0f} s")

    def wait_held(self, timeout: float) -> bool:
        """True once the outsider holds the lock (it waits for it while a broker has it)."""
        if self.held_at is not None:
            return True
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if ready and self.process.stdout.readline().strip() == b"held":
            self.held_at = time.monotonic()
            self.details["held"] = True
            return True
        return False

    def _heal(self) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _source_root() -> str:
    import harness

    root = str(Path(harness.__file__).resolve().parent.parent)
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
