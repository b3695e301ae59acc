"""Ordering checker: each producer's messages are delivered in increasing sequence.

A *stream* is what must be seen in order. With ``scope="consumer"`` it is one consumer process's
deliveries from one producer (and one message group, when deliveries carry ``meta["group"]``): a
single consumer must see a producer's values in increasing seq. With ``scope="group"`` (competing
consumers with message groups) it is every delivery of one (producer, group) across all consumers, in
history order; deliveries without a group are not checked in that scope.

Walking a stream, with ``hi`` the highest seq delivered so far:

* a delivery above ``hi`` is a forward step. Acknowledged seqs between ``hi`` and it that this stream
  has not seen and that no consumer has received yet are skipped: a *jump forward n*. Seqs whose send
  failed or is uncertain are never gaps.
* a delivery at or below ``hi`` of a seq the stream has seen is a repeat (a redelivery).
* a delivery below ``hi`` of a seq new to the stream is a backward step. It is allowed when it is a
  redelivery (``meta["redelivered"]`` or the message was delivered before to any consumer). If it
  fills a gap and is not a redelivery it is a *reordering*. If its send was not receipted (``info``
  or ``fail``) the broker's order is unknown and the step is only counted. Any other backward step
  (below the first delivery of the stream, typically) is illegal.

At the end, a skipped seq that the stream never got is: *elsewhere* when another consumer received it
(not a gap: with competing consumers that is expected), or *lost* when nobody ever received it (the
total-queue checker counts it as lost too).

Valid iff there is no reordering and no illegal backward step.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.checkers._common import (
    MAX_DETAILS,
    HistoryLike,
    as_ops,
    deliveries_by_key,
    delivery_ops,
    format_keys,
    jsonable,
    origin_ns,
    rel_ms,
    send_records,
    where,
)
from harness.history import MessageKey, Op

Scope = Literal["consumer", "group"]

# (consumer process or None in group scope, producer, group)
StreamId = tuple[int | str | None, str, str | None]


@dataclass(frozen=True)
class Gap:
    """A jump forward over acknowledged seqs, and what became of each skipped seq."""

    consumer: int | str | None  # None in group scope
    producer: str
    group: str | None
    from_key: MessageKey  # the highest key delivered before the jump
    to_key: MessageKey  # the delivery that jumped
    time_ms: float
    node: str | None
    skipped: list[MessageKey]  # the gap: len(skipped) is the n of "jump forward n"
    reordered: list[MessageKey]  # delivered later in the stream, not as a redelivery
    redelivered: list[MessageKey]  # delivered later in the stream as a redelivery (allowed)
    lost: list[MessageKey]  # never delivered to anyone

    @property
    def size(self) -> int:
        return len(self.skipped)


@dataclass(frozen=True)
class BackwardStep:
    """An illegal backward step: a receipted message delivered after a higher seq, unexplained."""

    consumer: int | str | None
    producer: str
    group: str | None
    from_key: MessageKey
    to_key: MessageKey
    time_ms: float
    node: str | None


@dataclass(frozen=True)
class OrderingResult:
    valid: bool
    scope: Scope
    streams: int  # streams checked
    deliveries: int  # deliveries checked
    jumps: int  # forward jumps over at least one acknowledged, undelivered seq
    skipped: int  # seqs in those jumps
    reordered: int  # gap seqs delivered later, out of order, not as a redelivery
    lost_in_gaps: int  # gap seqs never delivered to anyone
    illegal_backward_steps: int
    redelivered_steps: int  # allowed backward steps: redeliveries
    unconfirmed_steps: int  # backward steps to a send that was never receipted (order unknown)
    repeats: int  # deliveries of a seq the stream had already seen
    gaps: list[Gap]
    illegal_steps: list[BackwardStep]
    problems: list[str]

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        return (
            f"ordering ({self.scope} scope) {verdict}: {self.deliveries} deliveries in {self.streams} "
            f"streams, {self.jumps} jumps forward, {self.reordered} reordered, {self.lost_in_gaps} lost in "
            f"gaps, {self.illegal_backward_steps} illegal backward steps, {self.redelivered_steps} "
            f"redelivered backward steps"
        )

    def figures(self) -> dict[str, Any]:
        return {"reordered": self.reordered}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


@dataclass
class _Jump:
    stream: StreamId
    from_op: Op
    to_op: Op
    skipped: list[int]
    filled: dict[int, tuple[Literal["reordered", "redelivered"], Op]] = field(default_factory=dict)


@dataclass(slots=True)
class _Stream:
    top: Op | None = None  # the delivery of the highest seq so far
    top_seq: int = -1  # its seq
    seen: set[int] = field(default_factory=set)
    open: dict[int, _Jump] = field(default_factory=dict)


_MISSING = "\0unknown group"


def _label(stream: StreamId) -> str:
    consumer, producer, group = stream
    parts = [] if consumer is None else [f"consumer {consumer}"]
    if consumer is None and group is not None:
        parts.append(f"group {group}")
    parts.append(f"producer {producer}")
    if consumer is not None and group is not None:
        parts.append(f"group {group}")
    return ", ".join(parts)


def check_ordering(history: HistoryLike, *, scope: Scope = "consumer") -> OrderingResult:
    """Check that deliveries follow each producer's send order within each stream (see module doc)."""
    if scope not in ("consumer", "group"):
        raise ValueError(f"scope must be 'consumer' or 'group', not {scope!r}")
    ops = as_ops(history)
    origin = origin_ns(ops)
    sends = send_records(ops)

    acked: dict[str, list[int]] = {}
    for key, send in sends.items():
        if send.outcome == "ok":
            acked.setdefault(key.producer, []).append(key.seq)
    for seqs in acked.values():
        seqs.sort()

    deliveries = delivery_ops(ops)
    by_key = deliveries_by_key(ops)

    def group_of(key: MessageKey) -> str | None:
        """A message's group: from its send if the workload recorded it there, else from its first
        delivery; _MISSING when neither says (asked only of the few seqs a jump skips)."""
        send = sends.get(key)
        if send is not None and "group" in send.invoke.meta:
            group: str | None = send.invoke.meta["group"]
            return group
        found = by_key.first.get(key)
        return found.meta.get("group") if found is not None else _MISSING

    streams: dict[StreamId, _Stream] = {}
    jumps: list[_Jump] = []
    illegal: list[BackwardStep] = []
    step_problems: list[str] = []
    # The seqs of each producer delivered so far, to anyone: ints, so that no key is built to ask.
    delivered: dict[str, set[int]] = {}
    checked = reordered = redelivered_steps = unconfirmed = repeats = 0
    by_consumer = scope == "consumer"

    for op in deliveries:
        producer, seq = op.value  # a delivery's value is its key
        group = op.meta.get("group")
        done = delivered.get(producer)
        if done is None:
            done = delivered[producer] = set()
        if group is None and not by_consumer:
            done.add(seq)
            continue
        checked += 1
        sid: StreamId = (op.process if by_consumer else None, producer, group)
        stream = streams.get(sid)
        if stream is None:
            stream = streams[sid] = _Stream()
        top = stream.top
        if top is None or seq > stream.top_seq:
            if top is not None:
                seqs = acked.get(producer, [])
                lo = bisect.bisect_right(seqs, stream.top_seq)
                up = bisect.bisect_left(seqs, seq)
                skipped = []
                seen = stream.seen
                for q in seqs[lo:up]:
                    if q in seen or q in done:
                        continue
                    q_group = group_of(MessageKey(producer, q))
                    if q_group == group or (group is None and q_group == _MISSING):
                        skipped.append(q)
                if skipped:
                    jump = _Jump(sid, top, op, skipped)
                    jumps.append(jump)
                    for q in skipped:
                        stream.open[q] = jump
            stream.top = op
            stream.top_seq = seq
        elif seq in stream.seen:
            repeats += 1
        else:
            key = op.value
            redelivery = bool(op.meta.get("redelivered")) or seq in done
            opened = stream.open.pop(seq, None)
            record = sends.get(key)
            if opened is not None:
                if redelivery:
                    opened.filled[seq] = ("redelivered", op)
                    redelivered_steps += 1
                else:
                    opened.filled[seq] = ("reordered", op)
                    reordered += 1
            elif redelivery:
                redelivered_steps += 1
            elif record is None or record.outcome != "ok":
                unconfirmed += 1
            else:
                illegal.append(
                    BackwardStep(
                        consumer=sid[0],
                        producer=producer,
                        group=group,
                        from_key=top.key,
                        to_key=key,
                        time_ms=rel_ms(op.time_ns, origin),
                        node=op.node,
                    )
                )
                step_problems.append(
                    f"{_label(sid)}: illegal backward step from {top.key} (delivered "
                    f"{where(top, origin)}) to {key} {where(op, origin)}: expected increasing "
                    f"seqs; {key} was receipted, was not delivered before, is not marked redelivered and "
                    f"fills no gap of this stream"
                )
        stream.seen.add(seq)
        done.add(seq)

    problems: list[str] = []
    gaps: list[Gap] = []
    lost_total = skipped_total = 0
    for jump in jumps:
        consumer, producer, group = jump.stream
        unfilled = [q for q in jump.skipped if q not in jump.filled]
        lost = [q for q in unfilled if q not in delivered.get(producer, ())]  # by now: delivered ever
        effective = sorted([*jump.filled, *lost])
        if not effective:
            continue  # every skipped seq went to another consumer
        as_keys = [MessageKey(producer, q) for q in effective]
        fills = sorted(jump.filled.items())
        re_keys = [MessageKey(producer, q) for q, (kind, _) in fills if kind == "reordered"]
        rd_keys = [MessageKey(producer, q) for q, (kind, _) in fills if kind == "redelivered"]
        lost_keys = [MessageKey(producer, q) for q in lost]
        gap = Gap(
            consumer=consumer,
            producer=producer,
            group=group,
            from_key=jump.from_op.key,
            to_key=jump.to_op.key,
            time_ms=rel_ms(jump.to_op.time_ns, origin),
            node=jump.to_op.node,
            skipped=as_keys,
            reordered=re_keys,
            redelivered=rd_keys,
            lost=lost_keys,
        )
        gaps.append(gap)
        skipped_total += gap.size
        lost_total += len(lost_keys)
        if not re_keys and not lost_keys:
            continue
        details = []
        for q, (kind, fill) in fills[:MAX_DETAILS]:
            how = "out of order (reordered)" if kind == "reordered" else "as a redelivery (allowed)"
            details.append(f"{MessageKey(producer, q)} delivered later {where(fill, origin)} {how}")
        if lost_keys:
            details.append(f"{format_keys(lost_keys)} never delivered (lost, as total-queue reports)")
        problems.append(
            f"{_label(jump.stream)}: jump forward {gap.size} from {gap.from_key} to {gap.to_key} "
            f"{where(jump.to_op, origin)} (expected next: {format_keys(as_keys[:1])}; skipped "
            f"{format_keys(as_keys)}): " + "; ".join(details)
        )
    problems.extend(step_problems)

    return OrderingResult(
        valid=reordered == 0 and not illegal,
        scope=scope,
        streams=len(streams),
        deliveries=checked,
        jumps=len(gaps),
        skipped=skipped_total,
        reordered=reordered,
        lost_in_gaps=lost_total,
        illegal_backward_steps=len(illegal),
        redelivered_steps=redelivered_steps,
        unconfirmed_steps=unconfirmed,
        repeats=repeats,
        gaps=gaps,
        illegal_steps=illegal,
        problems=problems,
    )
