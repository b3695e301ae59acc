"""Throughput per window from a history: receipted sends and live deliveries, not the final drain."""

from __future__ import annotations

import pytest

from harness.chaos import throughput_windows
from harness.chaos.memory import RssSampler, rss_bytes
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


def test_each_window_has_the_largest_memory_sample_in_it() -> None:
    samples = [(0, 100 * 2**20), (4 * 10**9, 150 * 2**20), (12 * 10**9, 120 * 2**20), (29 * 10**9, 130 * 2**20)]
    windows = throughput_windows([], 0, 30 * 10**9, window_s=10, rss_samples=samples)
    assert [w["rss_mb"] for w in windows] == [150.0, 120.0, 130.0]
    assert "rss_mb" not in throughput_windows([], 0, 10 * 10**9, window_s=10)[0]


def test_a_window_without_a_memory_sample_says_so() -> None:
    windows = throughput_windows([], 0, 20 * 10**9, window_s=10, rss_samples=[(15 * 10**9, 2**20)])
    assert [w["rss_mb"] for w in windows] == [None, 1.0]


def test_the_sampler_keeps_start_largest_and_end() -> None:
    values = iter([10 * 2**20, 30 * 2**20, 20 * 2**20])
    times = iter(range(3))
    sampler = RssSampler(read=lambda: next(values), clock=lambda: next(times))
    for _ in range(3):
        sampler.sample()
    assert sampler.samples == [(0, 10 * 2**20), (1, 30 * 2**20), (2, 20 * 2**20)]
    assert sampler.summary_mb() == {"start": 10.0, "max": 30.0, "end": 20.0}
    assert RssSampler(read=lambda: None).summary_mb() is None


def test_this_process_has_a_resident_size() -> None:
    measured = rss_bytes()
    assert measured is not None and measured > 2**20
