"""Checkers: pure functions from a history to a result with ``valid``, figures and ``problems``.

:func:`check_all` runs named checkers (by default :func:`standard_checkers`) and gathers their results
into a :class:`Verdict`; problems are human-readable and name message keys, nodes and times in ms
relative to the first op.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from harness.checkers._common import HistoryLike, as_ops
from harness.checkers.acked_redelivery import AckedRedeliveryResult, check_redelivered_after_ack
from harness.checkers.failover_time import FailoverResult, FaultRecovery, check_failover_time
from harness.checkers.network import (
    check_bridge_duplicates,
    check_bridge_ordering,
    check_load_spread,
    check_stuck,
    network_checkers,
)
from harness.checkers.ordering import BackwardStep, Gap, OrderingResult, Scope, check_ordering
from harness.checkers.ownership import OwnershipResult, check_exclusivity, check_group_ownership
from harness.checkers.quorum import QuorumResult, check_no_master_without_quorum, quorum_checker
from harness.checkers.redelivery_order import RedeliveryOrderResult, check_redelivery_order
from harness.checkers.split_brain import SplitBrainInterval, SplitBrainResult, check_split_brain
from harness.checkers.total_queue import TotalQueueResult, check_total_queue
from harness.checkers.verdict import Checker, CheckResult, Verdict, run_checkers

__all__ = [
    "AckedRedeliveryResult",
    "BackwardStep",
    "CheckResult",
    "Checker",
    "FailoverResult",
    "FaultRecovery",
    "Gap",
    "HistoryLike",
    "OrderingResult",
    "OwnershipResult",
    "QuorumResult",
    "RedeliveryOrderResult",
    "Scope",
    "SplitBrainInterval",
    "SplitBrainResult",
    "TotalQueueResult",
    "Verdict",
    "check_all",
    "check_bridge_duplicates",
    "check_bridge_ordering",
    "check_exclusivity",
    "check_failover_time",
    "check_group_ownership",
    "check_load_spread",
    "check_no_master_without_quorum",
    "check_ordering",
    "check_redelivered_after_ack",
    "check_redelivery_order",
    "check_split_brain",
    "check_stuck",
    "check_total_queue",
    "network_checkers",
    "quorum_checker",
    "run_checkers",
    "standard_checkers",
]


def standard_checkers(
    *,
    exactly_once: bool = False,
    acks_durable: bool = True,
    groups: Mapping[str, list[str]] | None = None,
    endpoints: Mapping[str, str] | None = None,
    ordering_scope: Scope = "consumer",
    bound_ms: float | None = None,
) -> dict[str, Checker]:
    """The project's checkers, configured for one scenario, by name and in report order.

    ``acks_durable=False`` is for a scenario that declares a receipted ACK may be forgotten: deliveries
    after one are then reported, not failed.
    """
    return {
        "total-queue": partial(check_total_queue, exactly_once=exactly_once),
        "ordering": partial(check_ordering, scope=ordering_scope),
        "failover": partial(check_failover_time, bound_ms=bound_ms),
        "split-brain": partial(check_split_brain, groups=groups, endpoints=endpoints),
        "redelivered-after-ack": partial(check_redelivered_after_ack, acks_durable=acks_durable),
        "redelivery-order": check_redelivery_order,
        "group-ownership": check_group_ownership,
        "exclusivity": check_exclusivity,
    }


def check_all(history: HistoryLike, checkers: Mapping[str, Checker] | None = None, **options: Any) -> Verdict:
    """Run ``checkers`` (default: ``standard_checkers(**options)``) on one history.

    To add a checker: ``check_all(ops, {**standard_checkers(...), "stuck": check_stuck})``.
    """
    if checkers is not None and options:
        raise TypeError(
            f"check_all: options {sorted(options)} configure the standard checkers; pass them to "
            "standard_checkers() when giving checkers explicitly"
        )
    return run_checkers(as_ops(history), checkers if checkers is not None else standard_checkers(**options))
