"""A history streamed to a JSON-lines file as it is recorded, for runs too long to keep in memory.

A 30-minute chaos run records about a million ops; kept as live objects they grow the harness by
hundreds of MB. ``StreamedHistory`` holds only the records not yet written (at most ``flush_records``,
and none older than ``flush_interval_s`` while records keep coming): each is encoded as it is made and
the file is flushed in whole lines, so a crash leaves a readable prefix (``load_prefix``). Checking
loads the file with the history's own loader (``read_ops``) once the run is over.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, Any

from harness.history import History, Op, encode_op, gc_paused, read_ops

FLUSH_RECORDS = 1000
FLUSH_INTERVAL_S = 1.0
# Records parsed at a time when the file is read through (``iter``): memory stays a chunk's, not a run's.
READ_CHUNK = 10_000


def whole_lines(src: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a history file that end in a newline: a record cut short by a crash (the last line,
    without its newline) is left out, and what precedes it is the history up to the crash."""
    for line in src:
        if line.endswith(b"\n"):
            yield line


def load_prefix(path: Path) -> History:
    """The history a streamed file holds, also one a crash cut short (its whole records)."""
    return History(_read_all(path))


def _read_all(path: Path) -> list[Op]:
    with gc_paused(), path.open("rb") as src:
        return read_ops(whole_lines(src), str(path))


class StreamedHistory(History):
    """A ``History`` whose records go to ``path`` as they are made; RAM holds the unwritten ones only.

    ``ops()`` and ``iter()`` read the file back (call them once the run is over: ``ops()`` loads every
    record); ``len()`` is a counter. ``save(path)`` moves the file there, so a saved history is not
    written twice.
    """

    def __init__(
        self,
        path: Path,
        clock: Any = time.monotonic_ns,
        flush_records: int = FLUSH_RECORDS,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        monotonic: Any = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        if flush_records < 1:
            raise ValueError(f"StreamedHistory: flush_records must be at least 1, got {flush_records}")
        self.path = path
        self.flush_records = flush_records
        self.flush_interval_s = flush_interval_s
        self._monotonic = monotonic
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("w", encoding="utf-8")
        self._count = 0
        self._unwritten: list[str] = []
        self._flushed_at = monotonic()

    def _recorded(self) -> int:
        return self._count

    def _keep(self, op: Op) -> None:
        # Under the history's lock: records reach the file whole and in order. A write is one string of
        # at most flush_records lines, handed to the OS, not synced.
        self._count += 1
        self._unwritten.append(encode_op(op))
        if len(self._unwritten) >= self.flush_records or self._monotonic() - self._flushed_at >= self.flush_interval_s:
            self._write()

    @property
    def unwritten(self) -> int:
        """Records held in memory, not yet in the file."""
        with self._lock:
            return len(self._unwritten)

    def flush(self) -> None:
        """Write every record made so far, in order, and hand it to the OS."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        lines, self._unwritten = self._unwritten, []
        self._flushed_at = self._monotonic()
        if self._file is None:
            if lines:
                raise ValueError(f"history {self.path}: {len(lines)} records made after it was closed")
            return
        self._file.write("".join(lines))
        self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._write()
            if self._file is not None:
                self._file.close()
                self._file = None

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def ops(self) -> list[Op]:
        self.flush()
        return _read_all(self.path)

    def __iter__(self) -> Iterator[Op]:
        self.flush()
        return self._read_through(self.path, self._count)

    @staticmethod
    def _read_through(path: Path, count: int) -> Iterator[Op]:
        # Only the records made before the call, as History's iterator (a snapshot) gives.
        with path.open("rb") as src:
            lines = islice(whole_lines(src), count)
            first = 1
            while chunk := list(islice(lines, READ_CHUNK)):
                yield from read_ops(chunk, f"{path} (from line {first})")
                first += len(chunk)

    def save(self, path: Path) -> Path:
        """Flush and move the file to ``path``: records made later still go to it (the file stays open)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._write()
            os.replace(self.path, path)
            self.path = path
        return path
