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

from harness.checkers._common import HistoryLike, as_ops, fmt_ms, jsonable
from harness.checkers.failover_time import FailoverResult, FaultRecovery, check_failover_time
from harness.checkers.network import DEFAULT_STUCK_BOUND_MS, NetworkResult, check_network
from harness.checkers.ordering import BackwardStep, Gap, OrderingResult, Scope, check_ordering
from harness.checkers.split_brain import SplitBrainInterval, SplitBrainResult, check_split_brain
from harness.checkers.total_queue import TotalQueueResult, check_total_queue

__all__ = [
    "BackwardStep",
    "FailoverResult",
    "FaultRecovery",
    "Gap",
    "HistoryLike",
    "NetworkResult",
    "OrderingResult",
    "Scope",
    "SplitBrainInterval",
    "SplitBrainResult",
    "TotalQueueResult",
    "Verdict",
    "check_all",
    "check_failover_time",
    "check_network",
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
    # Networks of brokers only: stuck messages, duplicates and ordering across bridges, load spread.
    network: NetworkResult | None = None

    def results(self) -> dict[str, Any]:
        results: dict[str, Any] = {
            "total-queue": self.total_queue,
            "ordering": self.ordering,
            "failover": self.failover,
            "split-brain": self.split_brain_result,
        }
        if self.network is not None:
            results.update(self.network.results())
        return results

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
    def stuck(self) -> int:
        """Messages that waited beyond the bound while a consumer was connected (0 outside networks)."""
        return self.network.stuck.stuck if self.network is not None else 0

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
            **(self.network.figures() if self.network is not None else {}),
        }

    def summary(self) -> str:
        head = "VALID" if self.valid else "INVALID"
        failing = [name for name, result in self.results().items() if not result.valid]
        if failing:
            head += f" ({', '.join(failing)} failed)"
        lines = [head]
        lines.extend(f"  {result.summary()}" for result in self.results().values())
        problems = self.problems
        if problems:
            lines.append(f"problems ({len(problems)}):")
            lines.extend(f"  - {p}" for p in problems)
        if self.failover.max_unavailable_window is not None:
            start, end = self.failover.max_unavailable_window
            lines.append(f"longest unavailability: {fmt_ms(start)} .. {fmt_ms(end)}")
        return "\n".join(lines)

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
    network: bool = False,
    stuck_bound_ms: float = DEFAULT_STUCK_BOUND_MS,
    min_share: float | None = None,
) -> Verdict:
    """Run the total-queue, ordering, failover-time and split-brain checkers on one history, and with
    ``network`` the networks-of-brokers checkers too."""
    ops = as_ops(history)
    network_result = check_network(ops, stuck_bound_ms=stuck_bound_ms, min_share=min_share) if network else None
    total_queue = check_total_queue(ops, exactly_once=exactly_once)
    ordering = check_ordering(ops, scope=ordering_scope)
    failover = check_failover_time(ops, bound_ms=bound_ms)
    split_brain = check_split_brain(ops, groups=groups, endpoints=endpoints)
    return Verdict(
        # Across bridges ActiveMQ promises no order: in a network, ordering is a figure (see bridge-ordering).
        valid=total_queue.valid
        and (ordering.valid or network)
        and failover.valid
        and split_brain.valid
        and (network_result is None or network_result.valid),
        total_queue=total_queue,
        ordering=ordering,
        failover=failover,
        split_brain_result=split_brain,
        network=network_result,
    )
