"""Failover-time checker: how long after each fault the cluster served clients again.

For every fault (a nemesis ``start`` record) it measures, like OpenChaos' RTO, the time from the
fault's start to

* the first successful send after it: a send *invoked* at or after the start and receipted (``ok``);
  a send already in flight when the fault started does not count, since its receipt may have been
  on its way before the fault took effect;
* the first successful delivery after it (``ok receive`` recorded after the start).

Neither counts when the node the fault targets confirmed it before the fault healed: a kill or a
pause lands some time after its start record (microseconds for a local signal, milliseconds through
the Docker API), and what the target confirms meanwhile is the old master's last work, not recovery.

``failover_ms`` is the send time; when no send was invoked after the fault it falls back to the
receive time; ``None`` when neither was seen.

It also measures unavailability: the longest window without any successful operation (receipted send
or delivery) over the workload phase of the run, and per fault from its start until the first success
after it healed. The workload phase runs from the first client operation to the last send or
non-drain delivery: the final drain happens after the faults are healed, after a pause that is not
unavailability, so drain deliveries are not used.

With ``bound_ms``, valid iff every fault's ``failover_ms`` is at most ``bound_ms``; a fault with no
recovery seen is a violation when sends were attempted after it. Without a bound the result is valid
and the figures are informative.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import compress, repeat
from typing import Any

from harness.checkers._common import (
    HistoryLike,
    as_ops,
    delivery_ops,
    fmt_duration,
    fmt_ms,
    jsonable,
    origin_ns,
    rel_ms,
    send_records,
    span_ms,
    views,
)
from harness.history import FAULT_END, FAULT_START, Op

_time = operator.attrgetter("time_ns")
_type = operator.attrgetter("type")
_meta = operator.attrgetter("meta")
_node = operator.attrgetter("node")
_outcome = operator.attrgetter("outcome")
_invoke = operator.attrgetter("invoke")
_completion = operator.attrgetter("completion")
_drain = operator.methodcaller("get", "drain")


def _nodes(ops: list[Op]) -> list[str]:
    """Each op's node, "" for none."""
    nodes = list(map(_node, ops))
    return [node or "" for node in nodes] if None in nodes else nodes


@dataclass(frozen=True)
class FaultRecovery:
    fault_id: int | str
    fault: str  # the fault's name, e.g. "kill"
    target: str | None
    start_ms: float  # relative to the first op
    end_ms: float | None  # when it healed; None if the history has no stop record for it
    sends_attempted: int  # sends invoked at or after the start
    send_ms: float | None  # start -> first receipted send invoked after the start
    receive_ms: float | None  # start -> first delivery after the start
    failover_ms: float | None  # send_ms, or receive_ms when no send was attempted, or None
    max_unavailable_ms: float  # longest window without success from the start to recovery after healing

    def describe(self) -> str:
        target = f" {self.target}" if self.target else ""
        return f"fault {self.fault_id} ({self.fault}{target}) started at {fmt_ms(self.start_ms)}"


@dataclass(frozen=True)
class FailoverResult:
    valid: bool
    bound_ms: float | None
    faults: list[FaultRecovery]
    failover_ms: list[float | None]  # one per fault, in start order
    unrecovered: int  # faults after which sends were attempted and none was receipted
    max_unavailable_ms: float  # over the workload phase
    max_unavailable_window: tuple[float, float] | None  # (from, to) in ms relative to the first op
    problems: list[str]

    def summary(self) -> str:
        """Durations as durations: the window of the longest outage is given as offsets from the first
        operation, never as a range that reads like a duration."""
        verdict = "valid" if self.valid else "INVALID"
        times = ", ".join("never" if t is None else fmt_duration(t) for t in self.failover_ms) or "no faults"
        bound = f" (bound {fmt_duration(self.bound_ms)})" if self.bound_ms is not None else ""
        outage = f"longest outage {fmt_duration(self.max_unavailable_ms)}"
        if self.max_unavailable_window is not None:
            start, end = self.max_unavailable_window
            outage += f", from {fmt_duration(start)} to {fmt_duration(end)} after the first operation"
        return f"failover {verdict}{bound}: per fault {times}; {outage}"

    def figures(self) -> dict[str, Any]:
        return {"failover_ms": list(self.failover_ms), "max_unavailable_ms": self.max_unavailable_ms}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


@dataclass(frozen=True)
class _Fault:
    fault_id: int | str
    name: str
    target: str | None
    start: Op
    end: Op | None


def _faults(nemesis: list[Op]) -> list[_Fault]:
    """Pair nemesis start and stop records, by fault_id, else by (fault, target), else in order."""
    starts: list[Op] = []
    stops: list[Op] = []
    for op in nemesis:
        if isinstance(op.value, dict):
            if op.f == FAULT_START:
                starts.append(op)
            elif op.f == FAULT_END:
                stops.append(op)

    def ident(op: Op) -> Any:
        value = op.value
        return value.get("fault_id", (value.get("fault"), value.get("target")))

    faults: list[_Fault] = []
    seen: set[Any] = set()
    used: set[int] = set()
    for start in starts:
        fid = ident(start)
        if fid in seen and "fault_id" in start.value:
            continue  # the same fault recorded twice (invoke + info): keep the first
        seen.add(fid)
        end = next(
            (s for s in stops if s.index not in used and s.time_ns >= start.time_ns and ident(s) == fid),
            None,
        )
        if end is not None:
            used.add(end.index)
        value = start.value
        raw_id = value.get("fault_id", start.index)
        faults.append(
            _Fault(
                fault_id=raw_id if isinstance(raw_id, int | str) else str(raw_id),
                name=str(value.get("fault", "fault")),
                target=None if value.get("target") is None else str(value.get("target")),
                start=start,
                end=end,
            )
        )
    return faults


def _longest(points: list[int]) -> tuple[int, int] | None:
    """The first widest pair of consecutive points (None for fewer than two)."""
    if len(points) < 2:
        return None
    widths = list(map(operator.sub, itertools.islice(points, 1, None), points))
    at = widths.index(max(widths))
    return points[at], points[at + 1]


def _after(heal: int, at: int, _node: str) -> bool:
    return at > heal


@dataclass(frozen=True)
class _Sorted:
    """Successes in time order as parallel lists (a list of tuples took hundreds of MiB at 5M ops):
    ``times`` (a send's invoke time, a delivery's time), ``done`` (the send's receipt; the delivery's
    time again) and ``nodes`` (the confirming node, or "")."""

    times: list[int]
    done: list[int]
    nodes: list[str]

    @classmethod
    def of(cls, times: list[int], done: list[int], nodes: list[str]) -> _Sorted:
        """Ordered as the (time, done, node) tuples sort: in most histories the times already rise
        strictly, and nothing is moved."""
        if not all(map(operator.lt, times, itertools.islice(times, 1, None))):
            ordered = sorted(zip(times, done, nodes, strict=True))
            times, done, nodes = [t for t, _, _ in ordered], [d for _, d, _ in ordered], [n for _, _, n in ordered]
        return cls(times, done, nodes)


def _first_receipt(ok_sends: _Sorted, first: int, counts: Callable[[int, str], bool]) -> int | None:
    """The earliest receipt that ``counts`` among ``ok_sends`` from ``first`` on (sorted by invoke time).

    A receipt never precedes its send's invoke: once invokes pass the earliest receipt found, no later
    send can beat it.
    """
    best: int | None = None
    invokes, receipts, nodes = ok_sends.times, ok_sends.done, ok_sends.nodes
    for i in range(first, len(invokes)):
        if best is not None and invokes[i] > best:
            break
        done = receipts[i]
        if (best is None or done < best) and counts(done, nodes[i]):
            best = done
    return best


def check_failover_time(history: HistoryLike, *, bound_ms: float | None = None) -> FailoverResult:
    """Measure, per fault, the time to the first successful send and delivery after it (module doc)."""
    ops = as_ops(history)
    origin = origin_ns(ops)
    sends = send_records(ops)

    kinds = views(ops)
    run_start = kinds.first_client_ns
    # The workload phase ends with the last send or non-drain receive (None: neither).
    last_send = max(map(_time, kinds.sends), default=None)
    receives = kinds.receives
    not_drain = list(map(operator.not_, map(_drain, map(_meta, receives))))
    last_receive = max(compress(map(_time, receives), not_drain), default=None)
    run_end = max((t for t in (last_send, last_receive) if t is not None), default=None)

    # Successful sends by invoke time (with receipt time and confirming node), deliveries by time.
    # Whole lists in C (map, compress), not a loop per op: a long history has millions.
    records = list(sends.values())
    ok = list(compress(records, map(operator.eq, map(_outcome, records), repeat("ok"))))
    ok = list(compress(ok, map(operator.is_not, map(_completion, ok), repeat(None))))
    del records
    receipted = list(map(_completion, ok))
    ok_sends = _Sorted.of(list(map(_time, map(_invoke, ok))), list(map(_time, receipted)), _nodes(receipted))
    del ok, receipted
    send_ops = kinds.sends
    send_invokes = sorted(compress(map(_time, send_ops), map(operator.eq, map(_type, send_ops), repeat("invoke"))))
    receipts = sorted(ok_sends.done)
    deliveries_all = delivery_ops(ops)
    got = list(compress(deliveries_all, map(operator.not_, map(_drain, map(_meta, deliveries_all)))))
    times = list(map(_time, got))
    delivered = _Sorted.of(times, times, _nodes(got))
    del got, times
    deliveries = delivered.times
    successes = sorted(receipts + deliveries)

    max_unavailable = 0.0
    window: tuple[float, float] | None = None
    if run_start is not None and run_end is not None:
        inside = successes[bisect.bisect_left(successes, run_start) : bisect.bisect_right(successes, run_end)]
        longest = _longest([run_start, *inside, max(run_end, run_start)])
        if longest is not None:
            max_unavailable = span_ms(*longest)
            window = (rel_ms(longest[0], origin), rel_ms(longest[1], origin))

    problems: list[str] = []
    recoveries: list[FaultRecovery] = []
    unrecovered = 0
    for fault in _faults(kinds.nemesis):
        start = fault.start.time_ns
        healed = fault.end.time_ns if fault.end is not None else None

        def counts(at: int, node: str, fault: _Fault = fault, healed: int | None = healed) -> bool:
            """Not the faulty node's own confirmations before it healed (module doc)."""
            return not (fault.target is not None and node == fault.target and (healed is None or at <= healed))

        attempted = len(send_invokes) - bisect.bisect_left(send_invokes, start)
        # Successes that count for this fault: sends invoked after it, deliveries recorded after it.
        # Both lists are in time order (sends by invoke): each walk starts at the fault and stops as soon
        # as nothing later can change its answer, so that a long run's many faults do not each walk
        # every send and delivery.
        first_sent = bisect.bisect_left(ok_sends.times, start)
        first_delivered = bisect.bisect_right(deliveries, start)
        first_send = _first_receipt(ok_sends, first_sent, counts)
        first_receive = next(
            (
                deliveries[i]
                for i in range(first_delivered, len(deliveries))
                if counts(deliveries[i], delivered.nodes[i])
            ),
            None,
        )
        send_ms = None if first_send is None else span_ms(start, first_send)
        receive_ms = None if first_receive is None else span_ms(start, first_receive)
        failover_ms = send_ms if attempted else receive_ms

        # Unavailability: from the start through the fault to the first success after it healed.
        if fault.end is not None:
            heal = fault.end.time_ns
            during: list[int] = []
            for i in range(first_sent, len(ok_sends.times)):
                if ok_sends.times[i] > heal:
                    break
                done = ok_sends.done[i]
                if done <= heal and counts(done, ok_sends.nodes[i]):
                    during.append(done)
            for i in range(first_delivered, len(deliveries)):
                t = deliveries[i]
                if t > heal:
                    break
                if counts(t, delivered.nodes[i]):
                    during.append(t)
            points = [start, *sorted(during)]
            # After the heal every success counts: the earliest receipt of a send invoked after the start
            # and the first delivery after the heal.
            healed_sends = _first_receipt(ok_sends, first_sent, partial(_after, heal))
            next_delivery = bisect.bisect_right(deliveries, heal)
            healed_delivery = deliveries[next_delivery] if next_delivery < len(deliveries) else None
            later = min((t for t in (healed_sends, healed_delivery) if t is not None), default=None)
            tail = later if later is not None else run_end
        else:
            recovered_sends = [
                ok_sends.done[i]
                for i in range(first_sent, len(ok_sends.times))
                if counts(ok_sends.done[i], ok_sends.nodes[i])
            ]
            recovered_deliveries = [
                deliveries[i]
                for i in range(first_delivered, len(deliveries))
                if counts(deliveries[i], delivered.nodes[i])
            ]
            points = [start, *sorted(recovered_sends + recovered_deliveries)]
            tail = run_end
        if tail is not None and tail > points[-1]:
            points.append(tail)
        longest = _longest(points)
        fault_unavailable = span_ms(*longest) if longest is not None else 0.0

        recovery = FaultRecovery(
            fault_id=fault.fault_id,
            fault=fault.name,
            target=fault.target,
            start_ms=rel_ms(start, origin),
            end_ms=None if fault.end is None else rel_ms(fault.end.time_ns, origin),
            sends_attempted=attempted,
            send_ms=send_ms,
            receive_ms=receive_ms,
            failover_ms=failover_ms,
            max_unavailable_ms=fault_unavailable,
        )
        recoveries.append(recovery)

        if attempted and send_ms is None:
            unrecovered += 1
            seen_receive = f"; first delivery after it at +{fmt_ms(receive_ms)}" if receive_ms is not None else ""
            problems.append(
                f"{recovery.describe()}: expected a receipted send after it, saw none of the {attempted} "
                f"send(s) attempted after it succeed (no recovery seen{seen_receive})"
            )
        elif bound_ms is not None and failover_ms is not None and failover_ms > bound_ms:
            what = "first receipted send" if attempted else "first delivery (no sends attempted after it)"
            problems.append(
                f"{recovery.describe()}: expected failover within {fmt_ms(bound_ms)}, saw the {what} "
                f"after {fmt_ms(failover_ms)}"
            )

    valid = True
    if bound_ms is not None:
        valid = all(
            (r.failover_ms is not None and r.failover_ms <= bound_ms)
            or (r.failover_ms is None and r.sends_attempted == 0)
            for r in recoveries
        )
    return FailoverResult(
        valid=valid,
        bound_ms=bound_ms,
        faults=recoveries,
        failover_ms=[r.failover_ms for r in recoveries],
        unrecovered=unrecovered,
        max_unavailable_ms=max_unavailable,
        max_unavailable_window=window,
        problems=problems,
    )
