"""Checkers: pure functions from a history to a verdict with figures.

Each checker takes a history (a :class:`~harness.history.History` or any iterable of
:class:`~harness.history.Op`) and returns a frozen result with ``valid``, figures and ``problems``
(human-readable explanations naming message keys, nodes and times in ms relative to the first op).
:func:`check_all` runs all of them and aggregates the results into a :class:`Verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.checkers._common import HistoryLike, as_ops, fmt_duration, jsonable
from harness.checkers.failover_time import FailoverResult, FaultRecovery, check_failover_time
from harness.checkers.ordering import BackwardStep, Gap, OrderingResult, Scope, check_ordering
from harness.checkers.split_brain import SplitBrainInterval, SplitBrainResult, check_split_brain
from harness.checkers.total_queue import TotalQueueResult, check_total_queue

__all__ = [
    "BackwardStep",
    "FailoverResult",
    "FaultRecovery",
    "Gap",
    "HistoryLike",
    "OrderingResult",
    "Scope",
    "SplitBrainInterval",
    "SplitBrainResult",
    "TotalQueueResult",
    "Verdict",
    "check_all",
    "check_failover_time",
    "check_ordering",
    "check_split_brain",
    "check_total_queue",
]


@dataclass(frozen=True)
class Verdict:
    """The results of all checkers on one history; valid iff every checker is valid."""

    valid: bool
    total_queue: TotalQueueResult
    ordering: OrderingResult
    failover: FailoverResult
    split_brain_result: SplitBrainResult

    def results(self) -> dict[str, TotalQueueResult | OrderingResult | FailoverResult | SplitBrainResult]:
        return {
            "total-queue": self.total_queue,
            "ordering": self.ordering,
            "failover": self.failover,
            "split-brain": self.split_brain_result,
        }

    # The headline figures, so that a scenario reads ``assert result.lost == 0``.
    @property
    def attempted(self) -> int:
        return self.total_queue.attempted

    @property
    def acknowledged(self) -> int:
        return self.total_queue.acknowledged

    @property
    def lost(self) -> int:
        return self.total_queue.lost

    @property
    def duplicated(self) -> int:
        return self.total_queue.duplicated

    @property
    def reordered(self) -> int:
        return self.ordering.reordered

    @property
    def failover_ms(self) -> list[float | None]:
        return list(self.failover.failover_ms)

    @property
    def split_brain(self) -> bool:
        return self.split_brain_result.split_brain

    @property
    def problems(self) -> list[str]:
        """Every checker's problems, each prefixed with the checker's name."""
        return [f"[{name}] {p}" for name, result in self.results().items() for p in result.problems]

    def figures(self) -> dict[str, Any]:
        tq = self.total_queue
        return {
            "attempted": tq.attempted,
            "acknowledged": tq.acknowledged,
            "received": tq.received,
            "lost": tq.lost,
            "duplicated": tq.duplicated,
            "unexpected": tq.unexpected,
            "recovered": tq.recovered,
            "unacknowledged_received": tq.unacknowledged_received,
            "reordered": self.ordering.reordered,
            "failover_ms": list(self.failover.failover_ms),
            "max_unavailable_ms": self.failover.max_unavailable_ms,
            "split_brain": self.split_brain,
        }

    def summary(self) -> str:
        """What a person would write: the verdict, what happened to the messages, how long the
        cluster was unavailable (durations, not times), then the problems."""
        failing = [name for name, result in self.results().items() if not result.valid]
        head = "VALID" if self.valid else f"INVALID ({', '.join(failing)} failed)"
        tq = self.total_queue
        lines = [
            f"{head}: {tq.attempted} sends attempted, {tq.acknowledged} receipted, {tq.received} received; "
            f"{tq.lost} lost, {tq.duplicated} duplicated, {tq.unexpected} unexpected",
        ]
        failover = self.failover
        per_fault = ", ".join("never" if t is None else fmt_duration(t) for t in failover.failover_ms)
        bound = f" (bound {fmt_duration(failover.bound_ms)})" if failover.bound_ms is not None else ""
        outage = f"longest outage {fmt_duration(failover.max_unavailable_ms)}"
        if failover.max_unavailable_window is not None:
            start, end = failover.max_unavailable_window
            outage += f" ({fmt_duration(start)} to {fmt_duration(end)} after the first operation)"
        lines.append(f"failover: {per_fault or 'no faults'}{bound}; {outage}")
        lines.extend(f"{result.summary()}" for result in (self.ordering, self.split_brain_result))
        problems = self.problems
        if problems:
            lines.append(f"problems ({len(problems)}):")
            lines.extend(f"  - {p}" for p in problems)
        return "\n".join(lines)

    def __repr__(self) -> str:
        # pytest prints the repr of what an assertion compared: one line, not every checker's fields.
        return (
            f"Verdict(valid={self.valid}, attempted={self.attempted}, lost={self.lost}, "
            f"duplicated={self.duplicated}, reordered={self.reordered}, split_brain={self.split_brain})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: validity, the headline figures and every checker's full result."""
        return {
            "valid": self.valid,
            "figures": self.figures(),
            "checks": {name: jsonable(result) for name, result in self.results().items()},
        }


def check_all(
    history: HistoryLike,
    *,
    exactly_once: bool = False,
    groups: Mapping[str, list[str]] | None = None,
    endpoints: Mapping[str, str] | None = None,
    ordering_scope: Scope = "consumer",
    bound_ms: float | None = None,
) -> Verdict:
    """Run the total-queue, ordering, failover-time and split-brain checkers on one history."""
    ops = as_ops(history)
    total_queue = check_total_queue(ops, exactly_once=exactly_once)
    ordering = check_ordering(ops, scope=ordering_scope)
    failover = check_failover_time(ops, bound_ms=bound_ms)
    split_brain = check_split_brain(ops, groups=groups, endpoints=endpoints)
    return Verdict(
        valid=total_queue.valid and ordering.valid and failover.valid and split_brain.valid,
        total_queue=total_queue,
        ordering=ordering,
        failover=failover,
        split_brain_result=split_brain,
    )
