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


def lookback_ns(lookback_s: float) -> int:
    """The lookback in whole ns, as the rule and the executor's serving check both count it."""
    return round(lookback_s * 1e9)


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


class ExerciseJudge:
    """Judges the started faults of ``executed`` (``started_at_s`` counted from ``started_ns``) as ops go by
    in record order (times never go back): ``feed`` each op, then ``result()``. Receipts anywhere in the
    cluster count. Fed beside other readers, so that a soak's history is read once."""

    def __init__(
        self, started_ns: int, executed: Sequence[ExecutedFault], lookback_s: float = SERVING_LOOKBACK_S
    ) -> None:
        self.lookback_s = lookback_s
        self._lookback_ns = lookback_ns(lookback_s)
        self._starts = sorted(
            (started_ns + round(e.started_at_s * 1e9), e.index)
            for e in executed
            if e.skipped is None and e.started_at_s is not None
        )
        self._next = 0  # the first start not judged yet
        self._last_receipt: int | None = None
        self._idle: list[int] = []

    @property
    def done(self) -> bool:
        return self._next >= len(self._starts)

    def _judge_until(self, time_ns: float) -> None:
        """Judge the starts before ``time_ns``: a receipt at the very instant of a start counts for it, as
        the executor's serving check, which read it before the clock, counted it."""
        starts = self._starts
        while self._next < len(starts) and starts[self._next][0] < time_ns:
            at, index = starts[self._next]
            if self._last_receipt is None or at - self._last_receipt > self._lookback_ns:
                self._idle.append(index)
            self._next += 1

    def feed(self, op: Op) -> None:
        if self.done:
            return
        self._judge_until(op.time_ns)
        if op.f == SEND and op.type == "ok":
            self._last_receipt = op.time_ns

    def result(self) -> Exercise:
        """The judgement; starts after the last op fed are judged on what came before them."""
        self._judge_until(math.inf)
        return Exercise(started=len(self._starts), idle=tuple(sorted(self._idle)), lookback_s=self.lookback_s)


def exercised_faults(
    ops: Iterable[Op], started_ns: int, executed: Sequence[ExecutedFault], lookback_s: float = SERVING_LOOKBACK_S
) -> Exercise:
    """Read ``ops`` once, in record order, up to the last started fault, and judge every started fault."""
    judge = ExerciseJudge(started_ns, executed, lookback_s)
    for op in ops:
        if judge.done:
            break
        judge.feed(op)
    return judge.result()
