"""Shrinking with a fake predicate: ddmin finds a 1-minimal failing subset, intermittent failures are
retried, and durations and the schedule itself get shorter."""

from __future__ import annotations

import random

import pytest

from harness.chaos import Schedule, ScheduledFault, ddmin, shrink
from harness.chaos.shrink import MIN_FAULT_S, compact


def test_ddmin_finds_the_one_item_that_fails() -> None:
    calls: list[list[int]] = []

    def fails(items: list[int]) -> bool:
        calls.append(items)
        return 13 in items

    assert ddmin(list(range(40)), fails) == [13]
    assert len(calls) < 40  # far fewer tests than one per item


def test_ddmin_keeps_a_pair_that_fails_only_together() -> None:
    assert ddmin(list(range(16)), lambda items: 3 in items and 11 in items) == [3, 11]


def test_ddmin_result_is_one_minimal() -> None:
    def fails(items: list[int]) -> bool:
        return sum(1 for i in items if i % 5 == 0) >= 3

    found = ddmin(list(range(30)), fails)
    assert fails(found)
    assert all(not fails([x for x in found if x != drop]) for drop in found)


def test_ddmin_tests_each_subset_once() -> None:
    seen: list[tuple[int, ...]] = []

    def fails(items: list[int]) -> bool:
        seen.append(tuple(items))
        return 2 in items and 5 in items

    ddmin(list(range(8)), fails)
    assert len(seen) == len(set(seen))


def schedule_of(count: int) -> Schedule:
    faults = tuple(
        ScheduledFault("kill" if i != 4 else "steal_lock", 3.0 + 5 * i, 4.0 if i != 4 else 0.0, "master", "g")
        for i in range(count)
    )
    return Schedule(seed=5, duration_s=3.0 + 5 * count + 10, topology="t", faults=faults)


def test_shrink_finds_the_fault_that_fails_and_shortens_the_schedule() -> None:
    schedule = schedule_of(10)
    report = shrink(schedule, lambda s: any(f.kind == "steal_lock" for f in s.faults), runs=1)
    assert report.reproduced
    assert [f.kind for f in report.smallest.faults] == ["steal_lock"]
    assert report.smallest.duration_s < schedule.duration_s
    assert report.smallest.faults[0].start_s == 3.0  # moved to the end of the warm-up
    assert report.smallest.seed is None  # no longer what a seed draws


def test_shrink_halves_durations_while_the_run_still_fails() -> None:
    schedule = schedule_of(6)

    def fails(candidate: Schedule) -> bool:  # fails when a kill of at least 1 s is in the mix
        return any(f.kind == "kill" and f.duration_s >= 1.0 for f in candidate.faults)

    report = shrink(schedule, fails, runs=1)
    assert len(report.smallest) == 1
    assert report.smallest.faults[0].duration_s == 1.0
    assert report.smallest.faults[0].duration_s / 2 < 1.0 or report.smallest.faults[0].duration_s / 2 < MIN_FAULT_S


def test_an_intermittent_failure_is_retried_before_a_candidate_is_dropped() -> None:
    rng = random.Random(3)

    def flaky(candidate: Schedule) -> bool:  # the failing fault shows one run in three
        return any(f.kind == "steal_lock" for f in candidate.faults) and rng.random() < 0.34

    report = shrink(schedule_of(10), flaky, runs=12)
    assert report.reproduced
    assert [f.kind for f in report.smallest.faults] == ["steal_lock"]
    assert report.runs > report.candidates  # some candidates took more than one run


def test_a_failure_that_does_not_come_back_is_reported_not_shrunk() -> None:
    runs: list[Schedule] = []
    report = shrink(schedule_of(4), lambda s: runs.append(s) is not None, runs=3)
    assert not report.reproduced
    assert report.smallest == report.original
    assert len(runs) == 3
    assert "did not fail again in 3 runs" in report.summary()


def test_shrink_needs_at_least_one_run() -> None:
    with pytest.raises(ValueError, match="runs must be at least 1"):
        shrink(schedule_of(2), lambda s: True, runs=0)


def test_compact_moves_faults_to_the_warm_up_and_keeps_the_time_after_them() -> None:
    schedule = Schedule(
        seed=1, duration_s=100, topology="t", faults=(ScheduledFault("kill", 50.0, 4.0, "master", "g"),)
    )
    moved = compact(schedule)
    assert moved.faults[0].start_s == 3.0
    assert moved.duration_s == 100 - 47.0


def test_the_time_after_the_last_fault_is_halved_while_the_run_fails() -> None:
    schedule = Schedule(
        seed=1, duration_s=100, topology="t", faults=(ScheduledFault("steal_lock", 3.0, 0.0, "store", "g"),)
    )
    # The failure shows 20 s after the theft: a run must last at least until then.
    report = shrink(schedule, lambda s: s.duration_s >= 23.0, runs=1)
    assert 23.0 <= report.smallest.duration_s < 2 * 23.0
