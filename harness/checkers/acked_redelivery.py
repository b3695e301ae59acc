"""redelivered-after-ack: a message delivered again after the broker receipted the consumer's ACK of it.

A duplicate of a message that was never acked, or whose ACK got no receipt, is at-least-once delivery.
Once an ACK is receipted the broker has promised the message is consumed; delivering it again (to any
consumer, the final drain included) breaks that promise, unless the scenario declares acks non-durable.

A broker message is told apart from another copy of the same workload key (a producer's resend after a
lost receipt stores a second copy, a different message) by its message-id: the ACK acknowledged the
delivery of that key most recently made to the acking consumer before the ACK, and only deliveries of
the same message-id count as redeliveries. Deliveries without a message-id match on the key alone.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.checkers._common import (
    MAX_DETAILS,
    HistoryLike,
    MessageIdentity,
    as_ops,
    deliveries_by_key,
    format_keys,
    is_drain,
    jsonable,
    message_identity,
    origin_ns,
    views,
    where,
)
from harness.history import RECEIVE, MessageKey, Op

_index = operator.attrgetter("index")


@dataclass(frozen=True)
class AckedRedelivery:
    key: MessageKey
    message_id: str | None
    acked_by: int | str
    acked_ms: float
    redelivered_to: int | str
    redelivered_ms: float
    node: str | None


@dataclass(frozen=True)
class AckedRedeliveryResult:
    valid: bool
    acks_durable: bool
    acks_receipted: int
    redelivered_after_ack: int  # deliveries after a receipted ACK of the same message
    messages: int  # distinct messages redelivered after their ACK
    redeliveries: list[AckedRedelivery]
    problems: list[str]

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        text = (
            f"redelivered-after-ack {verdict}: {self.acks_receipted} receipted acks, "
            f"{self.redelivered_after_ack} deliveries after one ({self.messages} messages)"
        )
        return text if self.acks_durable else text + " (acks declared non-durable)"

    def figures(self) -> dict[str, Any]:
        return {"redelivered_after_ack": self.redelivered_after_ack}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def check_redelivered_after_ack(history: HistoryLike, *, acks_durable: bool = True) -> AckedRedeliveryResult:
    """Find deliveries of a message after a receipted ACK of it (valid iff none, or acks are non-durable)."""
    ops: Sequence[Op] = as_ops(history)
    origin = origin_ns(ops)
    acking: dict[int, Op] = {}  # the index of an ACK's completion -> the delivery the ACK acknowledges

    kinds = views(ops)
    by_key = deliveries_by_key(ops)
    # Each ACK paired with its completion (the next non-invoke ACK of its process, as completions()
    # pairs them) in one walk. A message delivered once cannot be delivered again after its ACK: for
    # such keys (most of a long history) the receipted ACKs are counted here, and only the completions
    # of ACKs of keys delivered more than once are kept, for the walk below. An ACK counts when the
    # key's delivery went to the acking process before the ACK was invoked.
    acks_receipted = 0
    pending: dict[int | str, Op] = {}
    done: dict[int, Op] = {}  # ACK invoke index -> its completion, for keys delivered more than once
    for op in kinds.acks:
        if op.type == "invoke":
            pending[op.process] = op
            continue
        invoke = pending.pop(op.process, None)
        if invoke is None or not isinstance(invoke.value, MessageKey):
            continue
        if invoke.value in by_key.more:
            done[invoke.index] = op
            continue
        once = by_key.first.get(invoke.value)
        if (
            once is not None
            and once.process == invoke.process
            and once.index < invoke.index
            and op.type == "ok"
            and isinstance(op.value, MessageKey)
        ):
            acks_receipted += 1
    # The keys delivered more than once are followed op by op, in history order.
    repeated = by_key.more
    acks = [op for op in kinds.acks if isinstance(op.value, MessageKey) and op.value in repeated] if repeated else []
    followed = sorted(itertools.chain(acks, *repeated.values()), key=_index)  # in history order

    # The delivery each ACK acknowledges: the latest of its key to the acking process before the ACK.
    latest: dict[tuple[int | str, MessageKey], Op] = {}
    acked: dict[MessageIdentity, tuple[Op, Op]] = {}  # identity -> (ack completion, acked delivery)
    redeliveries: list[AckedRedelivery] = []
    problems: list[str] = []
    # Their deliveries (named receive) and acks, in history order.
    for op in followed:
        if op.f == RECEIVE:
            key = op.value
            latest[(op.process, key)] = op
            if not acked:
                continue  # nothing receipted yet: the identity need not be made
            message_id = op.meta.get("message_id")
            identity = (key, str(message_id) if message_id else None)  # message_identity, inline: a hot loop
            found = acked.get(identity) or (acked.get((key, None)) if identity[1] is not None else None)
            if found is None:
                continue
            ack, first = found
            redeliveries.append(
                AckedRedelivery(
                    key=op.key,
                    message_id=identity[1],
                    acked_by=ack.process,
                    acked_ms=round((ack.time_ns - origin) / 1e6, 1),
                    redelivered_to=op.process,
                    redelivered_ms=round((op.time_ns - origin) / 1e6, 1),
                    node=op.node,
                )
            )
            if len(problems) < MAX_DETAILS:
                to = "the final drain" if is_drain(op) else f"consumer {op.process}"
                problems.append(
                    f"{op.key} redelivered to {to} {where(op, origin)}"
                    + (" (marked redelivered)" if op.meta.get("redelivered") else "")
                    + f" after consumer {ack.process}'s ACK of it was receipted {where(ack, origin)} "
                    f"(the delivery it acked came {where(first, origin)}): expected no delivery after a "
                    "receipted ACK"
                )
        else:
            if op.type == "invoke":
                delivery = latest.get((op.process, op.value))
                if delivery is not None:
                    completion = done.get(op.index)
                    if completion is not None:
                        acking[completion.index] = delivery
                continue
            # A completion: the promise holds from the moment the receipt came back.
            delivery = acking.pop(op.index, None)
            if delivery is None or op.type != "ok":
                continue
            acks_receipted += 1
            acked.setdefault(message_identity(delivery), (op, delivery))

    messages = {(r.key, r.message_id) for r in redeliveries}
    if redeliveries:
        keys = format_keys(r.key for r in redeliveries)
        head = f"{len(redeliveries)} deliveries of {len(messages)} message(s) after their ACK was receipted: {keys}"
        if not acks_durable:
            head += " (the scenario declares acks non-durable: reported, not a failure)"
        problems.insert(0, head)
    return AckedRedeliveryResult(
        valid=acks_durable is False or not redeliveries,
        acks_durable=acks_durable,
        acks_receipted=acks_receipted,
        redelivered_after_ack=len(redeliveries),
        messages=len(messages),
        redeliveries=redeliveries,
        problems=problems,
    )
