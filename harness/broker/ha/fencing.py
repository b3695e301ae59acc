"""Fencing epoch: a monotonic term number shared by all nodes of one store.

``<store>/epoch`` holds the current term as decimal text and is replaced atomically (temp file,
fsync, rename, fsync of the directory). A node that has just acquired the lock claims the next
term by creating ``<store>/epoch.d/<term>`` with O_EXCL, then publishes it in the epoch file.
The next term is one more than the highest of the epoch file and the existing claims, so claims
have no gaps, and two nodes that both believe they hold the lock (the lock file was deleted twice
in quick succession) cannot get the same term: the loser's claim fails and it waits again.

A master checks the epoch (the fence check, ha/epoch_watch.py) before every client-visible action: it is deposed
once the epoch file no longer names its term or the claim of the following term exists. The claim
is made before the new master reads the journal, so a record fsynced before a passing check is
always seen by the next master.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from harness.broker.store.files import fsync_dir

EPOCH_FILE = "epoch"
CLAIMS_DIR = "epoch.d"
_CLAIMS_KEPT = 16


class EpochConflict(Exception):
    """Another node claimed the term this node tried to claim."""


class EpochStore:
    """Reads and advances the epoch of one store directory."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self.path = store_dir / EPOCH_FILE
        self.claims = store_dir / CLAIMS_DIR

    def read(self) -> int:
        """The published term; 0 for a store that never had a master. Raises OSError/ValueError."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if self._claimed_terms():
                # A store that has had masters must have an epoch file: its loss is not "epoch 0".
                raise
            return 0
        return int(data.strip())

    def is_superseded(self, term: int) -> bool:
        """Whether some node has claimed the term after ``term`` (possibly not yet published)."""
        return os.path.exists(self.claims / f"{term + 1:010d}")

    def current_term_for(self, term: int) -> int:
        """The fence reader of a master holding ``term``: the published epoch, or term+1 if claimed."""
        published = self.read()
        if published == term and self.is_superseded(term):
            return term + 1
        return published

    def claim_next(self) -> int:
        """Claim and publish the next term; returns it. Call only while holding the lock."""
        self.claims.mkdir(parents=True, exist_ok=True)
        try:
            published = self.read()
        except (OSError, ValueError):
            published = 0
        term = max([published, *self._claimed_terms()]) + 1
        claim = self.claims / f"{term:010d}"
        try:
            fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise EpochConflict(f"term {term} was already claimed by another node") from None
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.claims)
        self._write(term)
        self._prune_claims(term)
        return term

    def _claimed_terms(self) -> list[int]:
        try:
            names = os.listdir(self.claims)
        except FileNotFoundError:
            return []
        return [int(name) for name in names if name.isdigit()]

    def _write(self, term: int) -> None:
        tmp = self.store_dir / f".{EPOCH_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{term}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        fsync_dir(self.store_dir)

    def _prune_claims(self, term: int) -> None:
        for claimed in self._claimed_terms():
            if claimed < term - _CLAIMS_KEPT:
                with contextlib.suppress(OSError):
                    (self.claims / f"{claimed:010d}").unlink()
