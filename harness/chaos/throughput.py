"""Throughput over time of a chaos run: receipted sends and deliveries per window of the history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.chaos.memory import largest_per_window
from harness.history import RECEIVE, SEND, Op


class ThroughputCounter:
    """Receipted sends and deliveries (not the final drain's) per ``window_s`` from ``start_ns`` to
    ``end_ns``, counted as ops are fed in record order: fed beside other readers, so that a soak's
    history is read once."""

    def __init__(self, start_ns: int, end_ns: int, window_s: float = 10.0) -> None:
        if window_s <= 0:
            raise ValueError(f"throughput: window_s must be more than 0, got {window_s}")
        self.start_ns, self.end_ns = start_ns, end_ns
        self.width = int(window_s * 1e9)
        # A tail shorter than half a window joins the last window instead of making one of its own.
        self.count = max(1, (end_ns - start_ns + self.width // 2) // self.width)
        self.sent = [0] * self.count
        self.received = [0] * self.count

    def feed(self, op: Op) -> None:
        if op.type != "ok" or not self.start_ns <= op.time_ns < self.end_ns:
            return
        slot = min((op.time_ns - self.start_ns) // self.width, self.count - 1)
        if op.f == SEND:
            self.sent[slot] += 1
        elif op.f == RECEIVE and not op.meta.get("drain"):
            self.received[slot] += 1

    def windows(self, rss_samples: list[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
        """One entry per window, each count also per second; with ``rss_samples`` ((monotonic ns, bytes)
        of the harness process) also ``rss_mb``, the largest sample in it."""
        width, count = self.width, self.count
        rss = largest_per_window(rss_samples, self.start_ns, width, count) if rss_samples is not None else None
        windows: list[dict[str, Any]] = []
        for slot in range(count):
            begin = slot * width
            span = (width if slot < count - 1 else self.end_ns - self.start_ns - begin) / 1e9
            windows.append(
                {
                    "from_s": round(begin / 1e9, 1),
                    "sent": self.sent[slot],
                    "received": self.received[slot],
                    "sent_per_s": round(self.sent[slot] / span, 1) if span > 0 else 0.0,
                    "received_per_s": round(self.received[slot] / span, 1) if span > 0 else 0.0,
                }
            )
            if rss is not None:
                windows[-1]["rss_mb"] = rss[slot]
        return windows


def throughput_windows(
    ops: Iterable[Op],
    start_ns: int,
    end_ns: int,
    window_s: float = 10.0,
    rss_samples: list[tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """Per ``window_s`` from ``start_ns`` to ``end_ns``: receipted sends and deliveries (not the final
    drain's), each also per second. A window with none is where the cluster served nobody. With
    ``rss_samples`` ((monotonic ns, bytes) of the harness process), each window also has ``rss_mb``, the
    largest sample in it: a soak's memory beside its throughput. ``ops`` is read once, in order."""
    counter = ThroughputCounter(start_ns, end_ns, window_s)
    for op in ops:
        counter.feed(op)
    return counter.windows(rss_samples)
