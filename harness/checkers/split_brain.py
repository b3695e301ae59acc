"""Split-brain checker: at most one node of a master/slave group accepts client work at a time.

Two sources of evidence, per master/slave group:

* **probes**: a probe round tries a client connection to every node of the group; a round in which
  two or more nodes accepted is split brain. Consecutive such rounds are reported as one interval.
* **confirmations**: every successful send, delivery or ack names the node that confirmed it. Sorted
  by time, a group's confirmations form runs of one node. A return to a node after another node's run
  (A at t1, B at t2, A at t3 with t1 < t2 < t3) means A and B interleaved: split brain.
  A legitimate fail-back (A fails, B takes over, B fails, A takes over again) has the same shape, so
  by default a return is not counted when a nemesis record (a fault starting or healing) lies between
  the previous run's last confirmation and the return; ``handover_at_faults=False`` counts every
  return. A fault whose effect shows only after a detection delay (a stolen lock noticed at the next
  keep-alive check, while the deposed master still confirms) may precede the previous run's last
  confirmation by up to ``handover_grace_ms`` (default 0: the record must lie between the two); such a
  record explains one handover only, so masters going back and forth after it are still split brain.
  A node that is killed, paused or stopped does no new work until the fault heals, so a confirmation
  from it recorded in that time is the late arrival of earlier work (a receipt already on the wire
  when the node died) and is not taken as evidence of it serving.

Node names: the workload may record a broker endpoint (``host:port``) in ``node``; ``endpoints`` maps
endpoints to node names. Groups come from ``groups`` (group -> node names) or, for nodes not listed
there, from the probe records' ``group``. Nodes in no group are ignored.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import takewhile
from typing import Any, Literal

from harness.checkers._common import (
    HistoryLike,
    as_ops,
    fmt_ms,
    is_client,
    jsonable,
    origin_ns,
    rel_ms,
    views,
)
from harness.history import ACK, FAULT_END, FAULT_START, NEMESIS, PROBE_NODE, RECEIVE, SEND, MessageKey, Op

Source = Literal["probe", "confirmations"]


@dataclass(frozen=True)
class SplitBrainInterval:
    group: str
    nodes: tuple[str, ...]
    start_ms: float
    end_ms: float
    source: Source
    rounds: tuple[int, ...]  # probe rounds (source "probe"), empty otherwise
    evidence: int  # probe rounds with 2+ masters, or interleavings of confirmations

    @property
    def duration_ms(self) -> float:
        return round(self.end_ms - self.start_ms, 1)


@dataclass(frozen=True)
class SplitBrainResult:
    valid: bool
    split_brain: bool
    groups: dict[str, list[str]]  # the groups checked
    probe_rounds: int  # (group, round) pairs probed
    split_rounds: int  # ... with two or more accepting nodes
    masterless_rounds: int  # ... with no accepting node
    confirmations: int  # confirmations by a node of some group
    interleavings: int  # returns to a node after another node's run, not explained by a fault
    intervals: list[SplitBrainInterval]
    problems: list[str]

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        return (
            f"split-brain {verdict}: {len(self.intervals)} split-brain interval(s); {self.split_rounds} of "
            f"{self.probe_rounds} probe rounds with 2+ masters, {self.masterless_rounds} with none; "
            f"{self.interleavings} interleaving(s) in {self.confirmations} confirmations"
        )

    def figures(self) -> dict[str, Any]:
        return {"split_brain": self.split_brain}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def _and(names: tuple[str, ...] | list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _describe(op: Op, node: str, origin: int) -> str:
    value = f" {op.value}" if isinstance(op.value, MessageKey) else ""
    return f"{node} confirmed {op.f}{value} at {fmt_ms(rel_ms(op.time_ns, origin))}"


@dataclass
class _Run:
    node: str
    first: Op
    last: Op


def _probe_intervals(
    probes: list[tuple[Op, str, str]], origin: int
) -> tuple[list[SplitBrainInterval], list[str], int, int, int]:
    """Intervals of consecutive probe rounds with 2+ accepting nodes; and the round counts."""
    rounds: dict[tuple[str, int], list[tuple[Op, str]]] = {}
    for op, node, group in probes:
        rounds.setdefault((group, int(op.value.get("round", -1))), []).append((op, node))
    intervals: list[SplitBrainInterval] = []
    problems: list[str] = []
    split_rounds = masterless = 0

    def close(group: str, streak: list[tuple[int, list[tuple[Op, str]]]]) -> None:
        if not streak:
            return
        times = [op.time_ns for _, found in streak for op, _ in found]
        nodes = tuple(sorted({node for _, found in streak for _, node in found}))
        numbers = tuple(number for number, _ in streak)
        start, end = rel_ms(min(times), origin), rel_ms(max(times), origin)
        intervals.append(SplitBrainInterval(group, nodes, start, end, "probe", numbers, len(streak)))
        span = f"round {numbers[0]}" if len(numbers) == 1 else f"rounds {numbers[0]}..{numbers[-1]}"
        problems.append(
            f"group {group}: expected at most one node accepting clients, saw {_and(nodes)} accepting in "
            f"probe {span} ({len(streak)} round(s)) between {fmt_ms(start)} and {fmt_ms(end)}"
        )

    for group in sorted({g for g, _ in rounds}):
        streak: list[tuple[int, list[tuple[Op, str]]]] = []
        for number in sorted(r for g, r in rounds if g == group):
            accepting = [(op, node) for op, node in rounds[(group, number)] if op.value.get("accepting")]
            if len({node for _, node in accepting}) >= 2:
                split_rounds += 1
                streak.append((number, accepting))
                continue
            if not accepting:
                masterless += 1
            close(group, streak)
            streak = []
        close(group, streak)
    return intervals, problems, len(rounds), split_rounds, masterless


@dataclass
class _Found:
    start: int
    end: int
    nodes: set[str]
    count: int
    evidence: str


def _confirmation_intervals(
    group: str,
    confirmed: list[Op],
    by: list[str],
    nemesis_times: list[int],
    handover_at_faults: bool,
    origin: int,
    grace_ns: int = 0,
) -> tuple[list[SplitBrainInterval], list[str], int]:
    """Intervals where nodes of one group interleave in confirming client operations (``by[i]`` is the
    node that confirmed ``confirmed[i]``)."""
    # By time, then index: ``confirmed`` is in index order and the sort is stable (and not needed when
    # the times already rise with the index, as a recorded history's do).
    times = list(map(_time, confirmed))
    if not all(map(operator.le, times, itertools.islice(times, 1, None))):
        order = sorted(range(len(confirmed)), key=times.__getitem__)
        confirmed, by = [confirmed[i] for i in order], [by[i] for i in order]
    # Runs of one node: where the confirming node changes, found in C rather than op by op.
    starts = (
        []
        if not by
        else [0, *itertools.compress(range(1, len(by)), map(operator.ne, by, itertools.islice(by, 1, None)))]
    )
    ends = [*starts[1:], len(by)]
    runs = [_Run(by[a], confirmed[a], confirmed[b - 1]) for a, b in zip(starts, ends, strict=True)]
    found: list[_Found] = []
    interleavings = 0
    used: set[int] = set()  # fault records that already explained a handover within the grace
    latest: dict[str, int] = {}  # node -> the index of its latest run so far
    for i, run in enumerate(runs):
        j = latest.get(run.node)
        latest[run.node] = i
        if j is None:
            continue
        previous = runs[i - 1]
        if handover_at_faults:
            # A nemesis record at or after the previous run's last confirmation: is it before the return?
            at = bisect.bisect_left(nemesis_times, previous.last.time_ns)
            if at < len(nemesis_times) and nemesis_times[at] <= run.first.time_ns:
                continue
            # A fault shortly before the previous run's end explains one handover, not a back-and-forth.
            if grace_ns:
                late = nemesis_times[bisect.bisect_left(nemesis_times, previous.last.time_ns - grace_ns) : at]
                if any(t not in used for t in late):
                    used.add(next(t for t in late if t not in used))
                    continue
        interleavings += 1
        nodes = {r.node for r in runs[j : i + 1]}
        start, end = runs[j].last.time_ns, run.first.time_ns
        if found and start <= found[-1].end:
            last = found[-1]
            last.end = max(last.end, end)
            last.nodes |= nodes
            last.count += 1
        else:
            evidence = ", ".join(
                _describe(r.first if k else r.last, r.node, origin) for k, r in enumerate((runs[j], runs[j + 1], run))
            )
            found.append(_Found(start, end, nodes, 1, evidence))
    intervals: list[SplitBrainInterval] = []
    problems: list[str] = []
    for item in found:
        names = tuple(sorted(item.nodes))
        interval = SplitBrainInterval(
            group,
            names,
            rel_ms(item.start, origin),
            rel_ms(item.end, origin),
            "confirmations",
            (),
            item.count,
        )
        intervals.append(interval)
        problems.append(
            f"group {group}: expected one master at a time, saw {_and(names)} confirm client operations "
            f"interleaved between {fmt_ms(interval.start_ms)} and {fmt_ms(interval.end_ms)} "
            f"({item.count} interleaving(s); first: {item.evidence})"
        )
    return intervals, problems, interleavings


# Faults after whose start the target node cannot confirm new work until the fault heals.
INCAPACITATING_FAULTS = frozenset({"kill", "pause", "restart"})


def _incapacitated(
    nemesis: list[Op], end_of_history: int, name: Callable[[str | None], str | None]
) -> dict[str, list[tuple[int, int]]]:
    """Per node, the (start, heal) times of faults that left it unable to do new work."""
    starts: dict[Any, Op] = {}
    windows: dict[str, list[tuple[int, int]]] = {}
    for op in nemesis:
        if op.process != NEMESIS or not isinstance(op.value, dict):
            continue
        if op.value.get("fault") not in INCAPACITATING_FAULTS:
            continue
        fault_id = op.value.get("fault_id")
        if op.f == FAULT_START:
            starts[fault_id] = op
        elif op.f == FAULT_END and fault_id in starts:
            start = starts.pop(fault_id)
            target = name(start.node or start.value.get("target"))
            if target is not None:
                windows.setdefault(target, []).append((start.time_ns, op.time_ns))
    for start in starts.values():  # never healed within the history
        target = name(start.node or start.value.get("target"))
        if target is not None:
            windows.setdefault(target, []).append((start.time_ns, end_of_history))
    return windows


class _Windows:
    """Closed time intervals, merged, as parallel lists of starts and ends: whether a time lies in one
    of them is found by bisecting the starts."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in sorted(spans):
            if start > end:
                continue  # an empty interval covers nothing
            if self.ends and start <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], end)
            else:
                self.starts.append(start)
                self.ends.append(end)


_NEVER_DOWN = _Windows([])
_UNSEEN: Any = object()  # an endpoint not routed yet (None is a route: "not in any group")
_time = operator.attrgetter("time_ns")


def _confirms(op: Op) -> bool:
    return is_client(op) and op.type == "ok" and op.f in (SEND, RECEIVE, ACK)


def check_split_brain(
    history: HistoryLike,
    *,
    groups: Mapping[str, list[str]] | None = None,
    endpoints: Mapping[str, str] | None = None,
    handover_at_faults: bool = True,
    handover_grace_ms: float = 0.0,
) -> SplitBrainResult:
    """Look for two masters in a master/slave group, in probe rounds and in confirmations."""
    ops = as_ops(history)
    origin = origin_ns(ops)
    names = dict(endpoints or {})

    def name(raw: str | None) -> str | None:
        return None if raw is None else names.get(raw, raw)

    group_of: dict[str, str] = {}
    members: dict[str, set[str]] = {}
    for group, nodes in (groups or {}).items():
        members[group] = set()
        for raw in nodes:
            node = names.get(raw, raw)
            group_of[node] = group
            members[group].add(node)

    probes: list[tuple[Op, str, str]] = []
    kinds = views(ops)
    for op in kinds.probes:
        if op.f != PROBE_NODE or op.type == "invoke" or not isinstance(op.value, dict):
            continue
        probed = name(op.node)
        if probed is None:
            continue
        node = probed
        if node not in group_of and op.value.get("group") is not None:
            group_of[node] = str(op.value["group"])
            members.setdefault(group_of[node], set()).add(node)
        if node in group_of:
            probes.append((op, node, group_of[node]))

    intervals, problems, probe_rounds, split_rounds, masterless = _probe_intervals(probes, origin)

    nemesis_times = sorted(op.time_ns for op in kinds.nemesis)
    down = {node: _Windows(spans) for node, spans in _incapacitated(kinds.nemesis, kinds.last_ns or 0, name).items()}
    # Every node restarted on purpose before the last drain (messages were missing): which node serves
    # that drain says nothing about masters during the run, so confirmations from then on are not used.
    # (``after_restart`` marks deliveries of that drain: the receives are all that need looking at.)
    restarted_at = min((op.time_ns for op in kinds.receives if op.meta.get("after_restart")), default=None)
    candidates: Iterable[Op] = kinds.confirmations
    if restarted_at is not None:
        candidates = (op for op in takewhile(lambda op: op.time_ns < restarted_at, ops) if _confirms(op))
    # Per group, its confirmations and the node of each, as parallel lists (no tuple per op).
    confirmed: dict[str, tuple[list[Op], list[str]]] = {}
    # Per endpoint, once: its group's lists, the node's name and its down windows (starts, ends).
    routes: dict[str | None, tuple[list[Op], list[str], str, list[int], list[int]] | None] = {}
    for op in candidates:
        endpoint = op.node
        route = routes.get(endpoint, _UNSEEN)
        if route is _UNSEEN:
            confirmer = name(endpoint)
            route = None
            if confirmer is not None and confirmer in group_of:
                listed = confirmed.setdefault(group_of[confirmer], ([], []))
                windows = down.get(confirmer, _NEVER_DOWN)
                route = (listed[0], listed[1], confirmer, windows.starts, windows.ends)
            routes[endpoint] = route
        if route is None:
            continue
        listed_ops, listed_by, confirmer, down_from, down_to = route
        if down_from:  # _Windows.cover, inline: called for most confirmations of a long history
            at = bisect.bisect_right(down_from, op.time_ns) - 1
            if at >= 0 and op.time_ns <= down_to[at]:
                continue
        listed_ops.append(op)
        listed_by.append(confirmer)
    confirmed = {group: listed for group, listed in confirmed.items() if listed[0]}
    interleavings = 0
    for group in sorted(confirmed):
        found, texts, count = _confirmation_intervals(
            group, *confirmed[group], nemesis_times, handover_at_faults, origin, int(handover_grace_ms * 1e6)
        )
        intervals.extend(found)
        problems.extend(texts)
        interleavings += count

    split = bool(intervals)
    return SplitBrainResult(
        valid=not split,
        split_brain=split,
        groups={g: sorted(nodes) for g, nodes in sorted(members.items())},
        probe_rounds=probe_rounds,
        split_rounds=split_rounds,
        masterless_rounds=masterless,
        confirmations=sum(len(ops) for ops, _ in confirmed.values()),
        interleavings=interleavings,
        intervals=intervals,
        problems=problems,
    )
