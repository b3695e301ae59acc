"""Lock-file stealing on a shared-file store: the lock file is deleted or replaced by a new file.

Either way the OS lock the master holds is now on a file that no longer has the lock's name,
so any other node can create and lock a fresh one: a master that does not check its lock keeps
serving (split brain).
"""

from __future__ import annotations

import os
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
