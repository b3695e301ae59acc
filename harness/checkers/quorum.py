"""No master without a quorum: with fewer than a quorum of brokers or ZooKeeper nodes alive, a
replicated group has no master.

From the nemesis records the checker knows when fewer than ``broker_quorum`` brokers of a replicated
group, or fewer than ``zookeeper_quorum`` ZooKeeper nodes, were up (killed or paused and not yet
healed). A master may finish what was on the wire and notice the loss: for ``grace_ms`` (the ZooKeeper
session timeout plus one keep-alive) confirmations still count as legitimate. Every receipted send or
acknowledgement recorded later than that inside such a window is a confirmation without a quorum.

Figures: ``confirmed_without_quorum_ms``, how long past the grace the last such confirmation came (0
when none: the promise held); ``confirmations_without_quorum``; ``quorum_lost_ms``, the total time the
group or its ensemble was below its quorum, so that a scenario can tell a run that never lost its
quorum (which shows nothing) from one that held its promise.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from harness.checkers._common import HistoryLike, as_ops, fmt_ms, jsonable, origin_ns, rel_ms, span_ms, views
from harness.history import FAULT_END, FAULT_START, RECEIVE, Op

# Faults that take a broker or a ZooKeeper node out until they heal.
BROKER_DOWN_FAULTS = frozenset({"kill", "pause"})
ZOOKEEPER_DOWN_FAULTS = frozenset({"zookeeper-kill", "zookeeper-pause"})


@dataclass(frozen=True)
class QuorumWindow:
    """A time (ms from the first op) when brokers or ZooKeeper nodes were below their quorum."""

    start_ms: float
    end_ms: float
    what: str  # "brokers 1/3 up", "zookeeper 1/3 up", or both


@dataclass(frozen=True)
class QuorumResult:
    valid: bool
    windows: tuple[QuorumWindow, ...]
    quorum_lost_ms: float
    confirmations_without_quorum: int
    confirmed_without_quorum_ms: float
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        return (
            f"quorum {verdict}: {len(self.windows)} window(s) below quorum ({fmt_ms(self.quorum_lost_ms)}); "
            f"{self.confirmations_without_quorum} confirmation(s) after the grace, the last "
            f"{fmt_ms(self.confirmed_without_quorum_ms)} past it"
        )

    def figures(self) -> dict[str, Any]:
        return {
            "quorum_lost_ms": self.quorum_lost_ms,
            "confirmations_without_quorum": self.confirmations_without_quorum,
            "confirmed_without_quorum_ms": self.confirmed_without_quorum_ms,
        }

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def _down_nodes(start: Op) -> tuple[str, list[str]]:
    """(kind, nodes) of a fault start record."""
    value = start.value if isinstance(start.value, dict) else {}
    kind = str(value.get("fault", ""))
    if kind in ZOOKEEPER_DOWN_FAULTS:
        return kind, [str(n) for n in value.get("nodes", [])]
    target = start.node or value.get("target")
    return kind, [str(target)] if target is not None else []


def check_no_master_without_quorum(
    history: HistoryLike,
    *,
    brokers: Collection[str],
    zookeepers: Collection[str],
    grace_ms: float,
    broker_quorum: int | None = None,
    zookeeper_quorum: int | None = None,
    endpoints: Mapping[str, str] | None = None,
) -> QuorumResult:
    """``brokers``/``zookeepers`` name the group's nodes; quorums default to a majority of each."""
    ops = as_ops(history)
    origin = origin_ns(ops)
    kinds = views(ops)
    end_of_history = kinds.last_ns if kinds.last_ns is not None else origin
    need_brokers = broker_quorum if broker_quorum is not None else len(brokers) // 2 + 1
    need_zk = zookeeper_quorum if zookeeper_quorum is not None else len(zookeepers) // 2 + 1
    broker_set, zk_set = set(brokers), set(zookeepers)

    # Each node is down while at least one fault that takes it out is open.
    events: list[tuple[int, int, str]] = []  # (time, +1 down / -1 up, node)
    open_faults: dict[Any, tuple[list[str], int]] = {}
    for op in kinds.nemesis:
        if not isinstance(op.value, dict):
            continue
        fault_id = op.value.get("fault_id")
        if op.f == FAULT_START:
            kind, nodes = _down_nodes(op)
            if kind in BROKER_DOWN_FAULTS:
                nodes = [n for n in nodes if n in broker_set]
            elif kind in ZOOKEEPER_DOWN_FAULTS:
                nodes = [n for n in nodes if n in zk_set]
            else:
                continue
            open_faults[fault_id] = (nodes, op.time_ns)
            events += [(op.time_ns, 1, n) for n in nodes]
        elif op.f == FAULT_END and fault_id in open_faults:
            nodes, _ = open_faults.pop(fault_id)
            events += [(op.time_ns, -1, n) for n in nodes]
    for nodes, _ in open_faults.values():  # never healed within the history
        events += [(end_of_history, -1, n) for n in nodes]
    events.sort(key=lambda e: (e[0], -e[1]))

    down: dict[str, int] = {}
    windows: list[tuple[int, int, str]] = []
    lost_since: int | None = None
    lost_what = ""
    for time_ns, delta, node in events:
        down[node] = down.get(node, 0) + delta
        brokers_up = len(broker_set) - sum(1 for n in broker_set if down.get(n, 0) > 0)
        zk_up = len(zk_set) - sum(1 for n in zk_set if down.get(n, 0) > 0)
        parts = []
        if brokers_up < need_brokers:
            parts.append(f"brokers {brokers_up}/{len(broker_set)} up")
        if zk_set and zk_up < need_zk:
            parts.append(f"zookeeper {zk_up}/{len(zk_set)} up")
        if parts and lost_since is None:
            lost_since, lost_what = time_ns, ", ".join(parts)
        elif not parts and lost_since is not None:
            windows.append((lost_since, time_ns, lost_what))
            lost_since = None
    if lost_since is not None:
        windows.append((lost_since, end_of_history, lost_what))

    grace_ns = int(grace_ms * 1e6)
    late: list[tuple[Op, int]] = []  # (confirmation, ns past the grace)
    confirmations = [op for op in kinds.confirmations if op.f != RECEIVE]  # receipted sends and acks
    # By time, each window's confirmations are found by bisection (then put back in history order):
    # a long run has many windows and many confirmations.
    by_time = sorted(range(len(confirmations)), key=lambda i: confirmations[i].time_ns)
    times = [confirmations[i].time_ns for i in by_time]
    for start, end, _ in windows:
        inside = by_time[bisect.bisect_right(times, start + grace_ns) : bisect.bisect_right(times, end)]
        for i in sorted(inside):
            op = confirmations[i]
            late.append((op, op.time_ns - start - grace_ns))
    names = dict(endpoints or {})
    problems = [
        f"{op.f} {op.value} confirmed by {names.get(op.node or '', op.node)} at {rel_ms(op.time_ns, origin)} ms, "
        f"{fmt_ms(past / 1e6)} after the grace of a window below quorum"
        for op, past in late[:20]
    ]
    if len(late) > 20:
        problems.append(f"... and {len(late) - 20} more confirmations without a quorum")
    return QuorumResult(
        valid=not late,
        windows=tuple(QuorumWindow(rel_ms(s, origin), rel_ms(e, origin), what) for s, e, what in windows),
        quorum_lost_ms=round(sum(span_ms(s, e) for s, e, _ in windows), 1),
        confirmations_without_quorum=len(late),
        confirmed_without_quorum_ms=round(max((past for _, past in late), default=0) / 1e6, 1),
        problems=problems,
    )


# One keep-alive of the harness's default lock settings: how often a master re-checks its standing.
KEEP_ALIVE_MS = 1000


def quorum_checker(
    brokers: Collection[str], zookeepers: int, zk_session_timeout_ms: int
) -> Callable[[Sequence[Op]], QuorumResult]:
    """The check configured for one replicated group: its brokers, its ensemble of ``zookeepers`` nodes
    (named zk1, zk2, ... by the ZooKeeper service), a grace of the session timeout plus one keep-alive."""
    return partial(
        check_no_master_without_quorum,
        brokers=tuple(brokers),
        zookeepers=tuple(f"zk{i}" for i in range(1, zookeepers + 1)),
        grace_ms=zk_session_timeout_ms + KEEP_ALIVE_MS,
    )
