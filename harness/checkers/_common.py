"""Helpers shared by the checkers: reading a history, send outcomes, times and key formatting."""

from __future__ import annotations

import bisect
import dataclasses
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, islice
from typing import Any, Literal, NamedTuple

from harness.checkers._shared import shared
from harness.history import ACK, NEMESIS, PROBE, RECEIVE, SEND, SUBSCRIBED, UNSUBSCRIBED, MessageKey, Op
from harness.history import completions as _completions

HistoryLike = Iterable[Op]
"""A History or any iterable of Op (a list loaded from JSON lines, a slice of a history ...)."""

SendOutcome = Literal["ok", "fail", "info"]

# How many individual keys or events a problem line spells out before it says "and N more".
MAX_DETAILS = 20


def as_ops(history: HistoryLike) -> list[Op]:
    """The operations of a history in recorded order (by index).

    A list already in that order (what ``History.ops()`` and ``History.load`` give, and what
    ``run_checkers`` hands every checker) is returned as it is: checkers only read it, and sorting a
    million ops again in every checker cost more than some checks.
    """
    if isinstance(history, list):
        return shared("in-order", history, _in_order)
    return sorted(history, key=lambda op: op.index)


_index = operator.attrgetter("index")
_time = operator.attrgetter("time_ns")


def _in_order(ops: Sequence[Op]) -> list[Op]:
    # Compared pairwise as they are read: no list of a million indexes is made for it.
    if isinstance(ops, list) and all(map(operator.lt, map(_index, ops), map(_index, islice(ops, 1, None)))):
        return ops
    return sorted(ops, key=_index)


def is_client(op: Op) -> bool:
    """True for workload operations (producers and consumers), False for nemesis and probe records."""
    return op.process not in (NEMESIS, PROBE)


def is_delivery(op: Op) -> bool:
    """A successful delivery: a lone ``ok receive`` carrying a message key."""
    # The operation name first: it rules out most records of a history with one comparison.
    return op.f == RECEIVE and op.type == "ok" and isinstance(op.value, MessageKey) and is_client(op)


@dataclass(frozen=True, slots=True)
class Views:
    """The ops of a history sorted out in one pass, each list in history order (built once per run).

    A checker walks the few kinds of ops it reads instead of the whole history: a long history is
    mostly sends, deliveries and acks, and testing each op against each checker's filter took longer
    than the checks.
    """

    sends: list[Op]  # client ops named send: invokes and completions
    receives: list[Op]  # client ops named receive
    acks: list[Op]  # client ops named ack
    deliveries: list[Op]  # see is_delivery
    confirmations: list[Op]  # client ok send, receive or ack: work a node confirmed
    session_events: list[Op]  # deliveries, and consumers' ok subscribed and unsubscribed records
    session_processes: set[int | str]  # processes that recorded a subscribed or unsubscribed
    nemesis: list[Op]
    probes: list[Op]
    first_client_ns: int | None  # the earliest client op
    origin: int  # the earliest op (0 for no ops)
    last_ns: int | None  # the latest op


def views(ops: Sequence[Op]) -> Views:
    """:class:`Views` of ``ops`` (in history order), built once per run of the checkers."""
    return shared("views", ops, _views)


def _views(ops: Sequence[Op]) -> Views:
    sends: list[Op] = []
    receives: list[Op] = []
    acks: list[Op] = []
    others: list[Op] = []
    deliveries: list[Op] = []
    confirmations: list[Op] = []
    session_events: list[Op] = []
    session_processes: set[int | str] = set()
    nemesis: list[Op] = []
    probes: list[Op] = []
    for op in ops:
        process = op.process
        # Most processes are ints: comparing one with a str asks both types before it says no.
        if type(process) is not int:
            if process == NEMESIS:
                nemesis.append(op)
                continue
            if process == PROBE:
                probes.append(op)
                continue
        f = op.f
        if f == RECEIVE:
            receives.append(op)
            if op.type == "ok":
                confirmations.append(op)
                if isinstance(op.value, MessageKey):
                    deliveries.append(op)
                    session_events.append(op)
        elif f == ACK:
            acks.append(op)
            if op.type == "ok":
                confirmations.append(op)
        elif f == SEND:
            sends.append(op)
            if op.type == "ok":
                confirmations.append(op)
        else:
            others.append(op)
            if f in (SUBSCRIBED, UNSUBSCRIBED) and op.type == "ok":
                session_events.append(op)
                session_processes.add(process)
    client_starts = [min(map(_time, found)) for found in (sends, receives, acks, others) if found]
    times = list(map(_time, ops))  # read once for the earliest and the latest
    return Views(
        sends=sends,
        receives=receives,
        acks=acks,
        deliveries=deliveries,
        confirmations=confirmations,
        session_events=session_events,
        session_processes=session_processes,
        nemesis=nemesis,
        probes=probes,
        first_client_ns=min(client_starts, default=None),
        origin=min(times, default=0),
        last_ns=max(times, default=None),
    )


def deliveries_before(ops: Sequence[Op], time_ns: int) -> list[Op]:
    """The deliveries among the ops that precede the first op recorded at or after ``time_ns``."""
    return views(ops).deliveries[: count_deliveries_before(ops, time_ns)]


def count_deliveries_before(ops: Sequence[Op], time_ns: int) -> int:
    """How many deliveries :func:`deliveries_before` gives (they are the first of ``delivery_ops``)."""
    # The running maximum of the times, so that the first op at or after time_ns is found by bisection.
    reached = shared("time-reached", ops, lambda all_ops: list(accumulate(map(_time, all_ops), max)))
    stop = bisect.bisect_left(reached, time_ns)
    # Where each delivery is in ops: asked for only when a lone consumer's session is checked.
    positions = shared(
        "delivery-positions", ops, lambda all_ops: [i for i, op in enumerate(all_ops) if is_delivery(op)]
    )
    return bisect.bisect_left(positions, stop)


def delivery_ops(ops: Sequence[Op]) -> list[Op]:
    """Every delivery of a history (see :func:`is_delivery`), in history order; built once per run."""
    return views(ops).deliveries


@dataclass(frozen=True, slots=True)
class DeliveriesByKey:
    """The deliveries of each message key: ``first`` has every delivered key's first delivery, ``more``
    all the deliveries (in history order) of the keys delivered more than once. Most keys of a long
    history are delivered once: a list for each took more memory than anything else built to check."""

    first: dict[MessageKey, Op]
    more: dict[MessageKey, list[Op]]

    def of(self, key: MessageKey) -> list[Op]:
        """Every delivery of ``key``, in history order (none if it was never delivered)."""
        found = self.more.get(key)
        if found is not None:
            return found
        op = self.first.get(key)
        return [] if op is None else [op]


def deliveries_by_key(ops: Sequence[Op]) -> DeliveriesByKey:
    """Every delivery of each message key (see :class:`DeliveriesByKey`); built once per run."""
    return shared("deliveries-by-key", ops, _deliveries_by_key)


def _deliveries_by_key(ops: Sequence[Op]) -> DeliveriesByKey:
    first: dict[MessageKey, Op] = {}
    more: dict[MessageKey, list[Op]] = {}
    for op in views(ops).deliveries:
        key = op.value  # a delivery's value is its key
        earlier = first.setdefault(key, op)
        if earlier is not op:
            listed = more.get(key)
            if listed is None:
                more[key] = [earlier, op]
            else:
                listed.append(op)
    return DeliveriesByKey(first, more)


def is_drain(op: Op) -> bool:
    return bool(op.meta.get("drain"))


def is_after_restart(op: Op) -> bool:
    """A delivery of the drain that follows a restart of every node (messages missing before it)."""
    return bool(op.meta.get("after_restart"))


MessageIdentity = tuple[MessageKey, str | None]
"""One broker message: its workload key and the broker's message-id (None when the broker sent none).
A producer's resend after a lost receipt can store a second copy of a key: another message."""


def message_identity(delivery: Op) -> MessageIdentity:
    message_id = delivery.meta.get("message_id")
    return (delivery.key, str(message_id) if message_id else None)


def completions(ops: Sequence[Op]) -> dict[int, Op]:
    """:func:`harness.history.completions`, built once per run of the checkers."""
    return shared("completions", ops, _completions)


def client_completions(ops: Sequence[Op], f: str) -> dict[int, Op]:
    """The completions of the client invokes named ``f`` (send or ack): what :func:`completions` gives
    for them, found among those ops alone (a completion has its invoke's process and name)."""
    lists = {SEND: lambda: views(ops).sends, ACK: lambda: views(ops).acks}
    return shared(f"completions-{f}", ops, lambda _: _completions(lists[f]()))


def origin_ns(ops: Sequence[Op]) -> int:
    """The time all reported times are relative to: the earliest recorded op."""
    return views(ops).origin


def rel_ms(time_ns: int, origin: int) -> float:
    """A time in ms relative to ``origin``, rounded to 0.1 ms."""
    return round((time_ns - origin) / 1e6, 1)


def span_ms(start_ns: int, end_ns: int) -> float:
    """A duration in ms, rounded to 0.1 ms."""
    return round((end_ns - start_ns) / 1e6, 1)


def fmt_ms(value: float) -> str:
    return f"{value:.1f} ms"


def fmt_duration(ms: float) -> str:
    """A duration as a person writes it: 21.8 ms, 1.42 s, 2 min 5 s."""
    if ms < 1000:
        return f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{minutes:.0f} min {seconds:.0f} s"


class SendRecord(NamedTuple):
    """Everything the history says about one message's send (a named tuple: a long history has
    millions, built in C)."""

    key: MessageKey
    invoke: Op
    completion: Op | None  # None: the history ended before the send completed
    outcome: SendOutcome  # "info" also when there was no completion at all

    @property
    def node(self) -> str | None:
        return self.completion.node if self.completion is not None else None


def send_records(ops: Sequence[Op]) -> dict[MessageKey, SendRecord]:
    """The send of every attempted key (built once per run of the checkers).

    A key invoked more than once (a workload that retries at its level) gets the best outcome:
    ``ok`` if any attempt was receipted, else ``info`` if any attempt was uncertain, else ``fail``.
    """
    return shared("send-records", ops, _send_records)


# A send's outcome by its completion's type: an uncertain completion is "info", as is none at all.
_OUTCOMES: dict[str, SendOutcome] = {"ok": "ok", "info": "info", "fail": "fail"}


_RANK = {"ok": 0, "info": 1, "fail": 2}


def _send_records(ops: Sequence[Op]) -> dict[MessageKey, SendRecord]:
    # Sends paired with their completions (the next non-invoke send of the same process, as
    # completions() pairs them) and made into records in the same walk: most keys are invoked once,
    # and their record is that invoke's. Keys invoked again are ranked afterwards. A key's entry is its
    # first invoke until the completion comes (the entry keeps its place: keys stay in invoke order).
    sends = views(ops).sends
    new = tuple.__new__
    outcomes = _OUTCOMES
    pending: dict[int | str, Op] = {}
    done: dict[int, Op] = {}  # invoke index -> completion
    records: dict[MessageKey, Any] = {}  # SendRecord, or the invoke still waiting for its completion
    repeated: set[MessageKey] = set()
    waiting = 0
    for op in sends:
        if op.type == "invoke":
            pending[op.process] = op
            key = op.value
            if isinstance(key, MessageKey):
                if key in records:
                    repeated.add(key)
                else:
                    records[key] = op
                    waiting += 1
            continue
        invoke = pending.pop(op.process, None)
        if invoke is None:
            continue
        done[invoke.index] = op
        key = invoke.value
        if isinstance(key, MessageKey) and records[key] is invoke:
            records[key] = new(SendRecord, (key, invoke, op, outcomes.get(op.type, "fail")))
            waiting -= 1
    if waiting:  # invokes the history ended before completing
        for key, found in records.items():
            if type(found) is Op:
                records[key] = new(SendRecord, (key, found, None, "info"))
    indexes = list(map(_index, sends))  # in history order: two equal indexes are neighbours
    if not all(map(operator.lt, indexes, islice(indexes, 1, None))):
        repeated = set(records)  # ops sharing an index: ranked as completions() pairs them, by index
    if repeated:
        _rank_repeated(sends, done, records, repeated)
    return records


def _rank_repeated(
    sends: list[Op], done: dict[int, Op], records: dict[MessageKey, SendRecord], keys: set[MessageKey]
) -> None:
    """The record of each of ``keys`` from its best attempt (the first of the best, see send_records)."""
    best: dict[MessageKey, SendRecord] = {}
    for op in sends:
        if not (op.type == "invoke" and isinstance(op.value, MessageKey) and op.value in keys):
            continue
        completion = done.get(op.index)
        outcome: SendOutcome = "info" if completion is None else _OUTCOMES.get(completion.type, "fail")
        previous = best.get(op.value)
        if previous is None or _RANK[outcome] < _RANK[previous.outcome]:
            best[op.value] = SendRecord(op.value, op, completion, outcome)
    records.update(best)  # in place: each key keeps the position of its first invoke


def key_order(key: MessageKey) -> tuple[str, int]:
    return (key.producer, key.seq)


def sorted_keys(keys: Iterable[MessageKey]) -> list[MessageKey]:
    # Keys are tuples (producer, seq): their own order is key_order's, compared in C.
    return sorted(keys)


def format_keys(keys: Iterable[MessageKey], limit: int = MAX_DETAILS) -> str:
    """``p1#3, p1#5..p1#9, p2#1`` -- consecutive seqs of a producer collapse into a range."""
    ordered = sorted_keys(set(keys))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while (
            j + 1 < len(ordered)
            and ordered[j + 1].producer == ordered[i].producer
            and ordered[j + 1].seq == ordered[j].seq + 1
        ):
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}..{ordered[j]}")
        i = j + 1
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f" (and {len(parts) - limit} more)"
    return ", ".join(parts)


def where(op: Op, origin: int) -> str:
    """``at 12.5 ms on node1`` for an op."""
    text = f"at {fmt_ms(rel_ms(op.time_ns, origin))}"
    return f"{text} on {op.node}" if op.node else text


def jsonable(value: Any) -> Any:
    """Turn a result (dataclasses, MessageKeys, tuples, sets, dicts keyed by keys) into JSON data."""
    if isinstance(value, MessageKey):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str)
    return value
