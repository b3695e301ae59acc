"""Shrinking a failing chaos schedule: delta debugging (ddmin) over its faults, then shorter faults and
a shorter schedule, keeping each step only if the run still fails.

Failures under chaos are intermittent, so a candidate counts as failing when any of ``runs`` attempts
fails (it stops at the first); a candidate that passes every attempt is dropped. The predicate is the
caller's: a real run of the scenario (see replay.py), or a plain function in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from harness.chaos.generator import SETTLE_S, WARM_UP_S
from harness.chaos.schedule import Schedule, ScheduledFault

T = TypeVar("T")
# Faults are not shortened below this: a shorter fault is mostly no fault at all.
MIN_FAULT_S = 0.5


def _split(items: Sequence[T], parts: int) -> list[list[T]]:
    size, extra = divmod(len(items), parts)
    chunks, begin = [], 0
    for i in range(parts):
        end = begin + size + (1 if i < extra else 0)
        chunks.append(list(items[begin:end]))
        begin = end
    return [c for c in chunks if c]


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """Zeller's ddmin: a 1-minimal sublist of ``items`` (order kept) for which ``fails`` still holds,
    assuming it holds for ``items``. Each distinct sublist is tested once."""
    current = list(items)
    tested: dict[tuple[int, ...], bool] = {}
    position = {id(item): i for i, item in enumerate(items)}

    def test(candidate: list[T]) -> bool:
        key = tuple(position[id(item)] for item in candidate)
        if key not in tested:
            tested[key] = fails(candidate)
        return tested[key]

    parts = 2
    while len(current) >= 2:
        chunks = _split(current, min(parts, len(current)))
        for chunk in chunks:
            if test(chunk):
                current, parts = chunk, 2
                break
        else:
            for i in range(len(chunks)):
                complement = [item for j, chunk in enumerate(chunks) if j != i for item in chunk]
                if test(complement):
                    current, parts = complement, max(parts - 1, 2)
                    break
            else:
                if parts >= len(current):
                    break
                parts = min(len(current), parts * 2)
    return current


def compact(schedule: Schedule) -> Schedule:
    """The same faults moved so the first starts right after the warm-up, the schedule as much shorter:
    the time after the last fault is kept (a failure may take that long to show, e.g. a slave's lock
    poll before two masters serve)."""
    if not schedule.faults:
        return replace(schedule, duration_s=min(schedule.duration_s, WARM_UP_S + SETTLE_S))
    shift = max(min(f.start_s for f in schedule.faults) - WARM_UP_S, 0.0)
    moved = [replace(f, start_s=round(f.start_s - shift, 1)) for f in schedule.faults]
    return replace(schedule.with_faults(moved), duration_s=round(schedule.duration_s - shift, 1))


def with_tail(schedule: Schedule, tail_s: float) -> Schedule:
    """The schedule ending ``tail_s`` after its last fault ends."""
    end = max((f.end_s for f in schedule.faults), default=WARM_UP_S)
    return replace(schedule, duration_s=round(end + tail_s, 1))


@dataclass
class ShrinkReport:
    """The original schedule, the smallest that still failed, and what it took."""

    original: Schedule
    smallest: Schedule
    reproduced: bool
    candidates: int = 0
    runs: int = 0
    steps: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.reproduced:
            return (
                f"shrink: the original schedule ({len(self.original)} faults) did not fail again in "
                f"{self.runs} runs: nothing to shrink"
            )
        return (
            f"shrink: {len(self.original)} faults / {self.original.fault_seconds:.1f} fault-seconds / "
            f"{self.original.duration_s:.0f} s -> {len(self.smallest)} faults / "
            f"{self.smallest.fault_seconds:.1f} fault-seconds / {self.smallest.duration_s:.0f} s "
            f"({self.candidates} candidates, {self.runs} runs)"
        )


def shrink(
    schedule: Schedule,
    run_fails: Callable[[Schedule], bool],
    runs: int = 3,
    progress: Callable[[str], None] = lambda line: None,
) -> ShrinkReport:
    """The smallest schedule found that still fails: ``run_fails(s)`` runs the scenario once under ``s``
    and says whether it failed; each candidate gets up to ``runs`` attempts."""
    if runs < 1:
        raise ValueError(f"shrink: runs must be at least 1, got {runs}")
    report = ShrinkReport(schedule, schedule, reproduced=False)

    def fails(candidate: Schedule, label: str) -> bool:
        report.candidates += 1
        for attempt in range(1, runs + 1):
            report.runs += 1
            failed = run_fails(candidate)
            progress(
                f"shrink: {label}: {len(candidate)} faults, {candidate.duration_s:.0f} s, run {attempt}/{runs}: "
                f"{'fails' if failed else 'passes'}"
            )
            if failed:
                return True
        return False

    if not fails(schedule, "the original"):
        return report
    report.reproduced = True

    # Candidates are no longer what the seed draws: they carry no seed.
    unseeded = replace(schedule, seed=None)

    def faults_fail(faults: list[ScheduledFault]) -> bool:
        return fails(unseeded.with_faults(faults), f"{len(faults)} of {len(schedule)} faults")

    kept = ddmin(list(schedule.faults), faults_fail)
    smallest = unseeded.with_faults(kept) if len(kept) < len(schedule) else schedule
    report.steps.append(f"ddmin: {len(schedule)} -> {len(kept)} faults")
    shorter = compact(smallest)
    if shorter != smallest and fails(shorter, "compacted"):
        smallest = shorter
        report.steps.append(f"compacted to {shorter.duration_s:.0f} s")
    # Halve each fault's duration while the run still fails.
    for index in range(len(smallest.faults)):
        while smallest.faults[index].duration_s / 2 >= MIN_FAULT_S:
            fault = smallest.faults[index]
            halved = replace(fault, duration_s=round(fault.duration_s / 2, 1))
            candidate = replace(smallest, faults=(*smallest.faults[:index], halved, *smallest.faults[index + 1 :]))
            candidate = compact(candidate)
            if not fails(candidate, f"{fault.kind} #{index} for {halved.duration_s} s"):
                break
            smallest = candidate
            report.steps.append(f"{fault.kind} shortened to {halved.duration_s} s")
    # Then a shorter time after the last fault, halved while the run still fails.
    while True:
        end = max((f.end_s for f in smallest.faults), default=WARM_UP_S)
        tail = smallest.duration_s - end
        if tail / 2 < SETTLE_S:
            break
        candidate = with_tail(smallest, tail / 2)
        if not fails(candidate, f"{tail / 2:.0f} s after the last fault"):
            break
        smallest = candidate
        report.steps.append(f"ends {tail / 2:.0f} s after the last fault")
    report.smallest = smallest if smallest == schedule else replace(smallest, seed=None)
    return report
