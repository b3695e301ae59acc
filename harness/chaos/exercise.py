"""Which faults of a chaos run hit a cluster that was serving: the run's evidence, beside its verdict.

A fault that lands while the cluster is still down from the one before (a JVM that has not finished
starting, a slave that has not taken over yet) puts nothing at risk: no receipted message is in flight
to lose, no second master can confirm anything. When faults come faster than the system recovers (a
loaded machine makes a JVM start take longer than the gap between faults) a run can pass every checker
while showing nothing. A fault counts as exercised when a send was receipted within SERVING_LOOKBACK_S
before it started; a run where fewer than MIN_EXERCISED_SHARE of its started faults were exercised (or
none started) is an ``error``, not a pass: too little was shown to say the promises held.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.chaos.executor import ExecutedFault
from harness.history import SEND, Op

SERVING_LOOKBACK_S = 2.0
MIN_EXERCISED_SHARE = 0.5


@dataclass(frozen=True)
class Exercise:
    """``idle``: the indices of started faults that hit a cluster with no receipt in the lookback."""

    started: int
    idle: tuple[int, ...]
    lookback_s: float = SERVING_LOOKBACK_S

    @property
    def exercised(self) -> int:
        return self.started - len(self.idle)

    def to_json(self) -> dict[str, Any]:
        return {
            "faults_exercised": self.exercised,
            "faults_started": self.started,
            "faults_on_idle_cluster": list(self.idle),
            "serving_lookback_s": self.lookback_s,
        }

    def insufficient(self, min_share: float = MIN_EXERCISED_SHARE) -> str | None:
        """Why the run showed too little to pass, or None."""
        if self.started == 0:
            return "chaos: no fault of the schedule started, so nothing was put at risk"
        needed = math.ceil(self.started * min_share)
        if self.exercised >= needed:
            return None
        idle = ", ".join(f"#{index}" for index in self.idle[:20])
        return (
            f"chaos: only {self.exercised} of {self.started} started faults hit a serving cluster (a send receipted "
            f"in the {self.lookback_s:g} s before them; at least {needed} needed): the others ({idle}) came while it "
            "was still down from an earlier fault, faster than it recovers"
        )


def exercised_faults(
    ops: Iterable[Op], started_ns: int, executed: Sequence[ExecutedFault], lookback_s: float = SERVING_LOOKBACK_S
) -> Exercise:
    """Read ``ops`` once, in record order (times never go back), against the started faults of ``executed``
    (``started_at_s`` counted from ``started_ns``). Receipts anywhere in the cluster count."""
    starts = sorted(
        (started_ns + round(e.started_at_s * 1e9), e.index)
        for e in executed
        if e.skipped is None and e.started_at_s is not None
    )
    lookback_ns = round(lookback_s * 1e9)
    idle: list[int] = []
    last_receipt: int | None = None
    pending = iter(starts)
    upcoming = next(pending, None)

    def judge(at: int, index: int) -> None:
        if last_receipt is None or at - last_receipt > lookback_ns:
            idle.append(index)

    for op in ops:
        while upcoming is not None and upcoming[0] <= op.time_ns:
            judge(*upcoming)
            upcoming = next(pending, None)
        if upcoming is None:
            break
        if op.f == SEND and op.type == "ok":
            last_receipt = op.time_ns
    while upcoming is not None:
        judge(*upcoming)
        upcoming = next(pending, None)
    return Exercise(started=len(starts), idle=tuple(sorted(idle)), lookback_s=lookback_s)
