"""The harness process's resident memory over a chaos run, sampled by a thread: a soak must show it steady."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

SAMPLE_INTERVAL_S = 1.0


def rss_bytes() -> int | None:
    """This process's resident set size, or None where /proc is not there to say."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class RssSampler:
    """Samples ``read()`` every ``interval_s`` between ``start()`` and ``stop()``: (monotonic ns, bytes)."""

    def __init__(
        self,
        interval_s: float = SAMPLE_INTERVAL_S,
        read: Callable[[], int | None] = rss_bytes,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.interval_s = interval_s
        self.read = read
        self.clock = clock
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        value = self.read()
        if value is not None:
            self.samples.append((self.clock(), value))

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()

    def summary_mb(self) -> dict[str, float] | None:
        """Start, largest and last sample in MB, or None without samples."""
        if not self.samples:
            return None
        values = [value for _, value in self.samples]
        return {"start": to_mb(values[0]), "max": to_mb(max(values)), "end": to_mb(values[-1])}


def to_mb(value: int) -> float:
    return round(value / 2**20, 1)


def largest_per_window(samples: list[tuple[int, int]], start_ns: int, width_ns: int, count: int) -> list[float | None]:
    """The largest sample in MB of each of ``count`` windows from ``start_ns`` (the last takes the tail)."""
    largest: list[float | None] = [None] * count
    for at, value in samples:
        if at < start_ns:
            continue
        slot = min((at - start_ns) // width_ns, count - 1)
        mb = to_mb(value)
        current = largest[slot]
        largest[slot] = mb if current is None else max(current, mb)
    return largest
