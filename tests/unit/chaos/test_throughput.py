"""Throughput per window from a history: receipted sends and live deliveries, not the final drain."""

from __future__ import annotations

import pytest

from harness.chaos import throughput_windows
from harness.history import History, MessageKey


def test_windows_count_receipted_sends_and_live_deliveries() -> None:
    clock = iter(range(0, 100 * 10**9, 10**9))  # one op per second
    history = History(clock=lambda: next(clock))
    for seq in range(25):
        history.record(1, "ok", "send", MessageKey(1, seq))
    history.record(2, "ok", "receive", MessageKey(1, 0))
    history.record(2, "ok", "receive", MessageKey(1, 1), drain=True)
    windows = throughput_windows(history.ops(), 0, 27 * 10**9, window_s=10)
    assert [w["sent"] for w in windows] == [10, 10, 5]
    assert [w["received"] for w in windows] == [0, 0, 1]
    assert windows[0]["sent_per_s"] == 1.0
    assert windows[2]["from_s"] == 20.0


def test_a_short_tail_joins_the_last_window() -> None:
    assert len(throughput_windows([], 0, int(20.2 * 10**9), window_s=10)) == 2


def test_a_window_must_be_longer_than_zero() -> None:
    with pytest.raises(ValueError, match="window_s"):
        throughput_windows([], 0, 10, window_s=0)
