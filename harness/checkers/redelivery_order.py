"""Redelivery order: a message returned to a queue comes back ahead of every newer message.

When a consumer's session ends (it closed on a live broker, or lost its connection) the messages it was
delivered and did not get a receipted ACK for go back to the queue. Both vendors put them back in their
place, ahead of messages not yet delivered. So, for a session that was the queue's only consumer (no
other session on the destination overlaps it), every message returned before the session began and
delivered in it must arrive before every new message queued after it: one nobody was delivered before
and that the broker does not mark redelivered (a client may have dropped a message unrecorded, its
subscription closing or its link dead), whose send was invoked after the returned message's send was
receipted. A returned message that arrives after such a message went to the tail of the queue. (A new
message queued ahead of it may come first: with message groups a busy owner holds its group back.)

Only-consumer sessions are checked because with competing consumers a returned message may go to
another consumer while this one takes newer messages; a session that began before the message was
returned is not checked because its broker may have dispatched newer messages into its prefetch
before the message came back. Messages are told apart by broker message-id, so that a producer's
resend of a message the old master never stored is a new message, not a returned one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.checkers._common import (
    MAX_DETAILS,
    HistoryLike,
    MessageIdentity,
    as_ops,
    client_completions,
    deliveries_before,
    delivery_ops,
    fmt_ms,
    format_keys,
    jsonable,
    message_identity,
    origin_ns,
    rel_ms,
    send_records,
    where,
)
from harness.checkers.sessions import Session, consumer_sessions
from harness.history import ACK, MessageKey, Op


@dataclass(frozen=True)
class LateRedelivery:
    key: MessageKey
    consumer: int | str
    returned_ms: float  # when the session it was last delivered in ended
    redelivered_ms: float
    overtaken_by: MessageKey  # the session's first delivery of a message never delivered before
    overtaken_ms: float


@dataclass(frozen=True)
class RedeliveryOrderResult:
    valid: bool
    sessions_checked: int  # only-consumer sessions that began with returned messages pending
    returned_redelivered: int  # returned messages that such sessions delivered
    late: int  # ... after a newer message
    late_redeliveries: list[LateRedelivery]
    problems: list[str]

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        return (
            f"redelivery-order {verdict}: {self.sessions_checked} sessions of a lone consumer with returned "
            f"messages, {self.returned_redelivered} returned messages redelivered, {self.late} after newer ones"
        )

    def figures(self) -> dict[str, Any]:
        return {"late_redeliveries": self.late}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def _returned_before(
    ops: Sequence[Op], session: Session, acked_at: dict[MessageKey, list[int]]
) -> set[MessageIdentity]:
    """Messages delivered before ``session`` began whose last delivery then had no receipted ACK.

    By broker message, not by key: a copy the broker never stored (its send had no receipt yet) that
    a producer then sent again is a new message, not a returned one.
    """
    last_delivery: dict[MessageIdentity, Op] = {}
    for op in deliveries_before(ops, session.start_ns):
        if op.meta.get("destination") == session.destination:
            last_delivery[message_identity(op)] = op
    return {
        identity
        for identity, op in last_delivery.items()
        if not any(op.time_ns <= t < session.start_ns for t in acked_at.get(op.key, ()))
    }


def _has_company(session: Session, sessions: Sequence[Session]) -> bool:
    """True if another consumer's session on the same destination overlaps this one."""
    return any(
        other is not session and other.destination == session.destination and other.overlaps(session)
        for other in sessions
    )


def check_redelivery_order(history: HistoryLike) -> RedeliveryOrderResult:
    """Check that a lone consumer gets returned messages before newer ones (see module doc)."""
    ops = as_ops(history)
    origin = origin_ns(ops)
    sessions = consumer_sessions(ops)
    lone = [s for s in sessions.all if s.deliveries and not _has_company(s, sessions.all)]
    # What the lone sessions are checked against; not built when there are none (many consumers).
    acked_at: dict[MessageKey, list[int]] = {}
    invoked_at: dict[MessageKey, int] = {}
    receipted_at: dict[MessageKey, int] = {}
    first_delivery_ns: dict[MessageIdentity, int] = {}
    if lone:
        for completion in client_completions(ops, ACK).values():
            if completion.type == "ok":
                acked_at.setdefault(completion.key, []).append(completion.time_ns)
        sends = send_records(ops)
        invoked_at = {key: send.invoke.time_ns for key, send in sends.items()}
        receipted_at = {
            key: send.completion.time_ns
            for key, send in sends.items()
            if send.outcome == "ok" and send.completion is not None
        }
        for op in delivery_ops(ops):
            first_delivery_ns.setdefault(message_identity(op), op.time_ns)

    checked = returned_total = 0
    late: list[LateRedelivery] = []
    problems: list[str] = []
    for session in lone:
        returned = _returned_before(ops, session, acked_at)
        if not returned:
            continue
        checked += 1
        returned_at = max(
            (s.end_ns for s in sessions.all if s.end_ns is not None and s.end_ns <= session.start_ns),
            default=session.start_ns,
        )
        # The newest new message delivered so far in the session, by when its send was invoked.
        newest: Op | None = None
        newest_invoked = -1
        session_late: list[LateRedelivery] = []
        for op in session.deliveries:
            identity = message_identity(op)
            if identity in returned:
                returned_total += 1
                returned.discard(identity)
                receipted = receipted_at.get(op.key)
                # Late only behind a message certainly queued after it: sent once its send was receipted.
                # (A message queued ahead of it may come first: a busy group owner had held it back.)
                if newest is not None and receipted is not None and newest_invoked > receipted:
                    session_late.append(
                        LateRedelivery(
                            key=op.key,
                            consumer=op.process,
                            returned_ms=rel_ms(returned_at, origin),
                            redelivered_ms=rel_ms(op.time_ns, origin),
                            overtaken_by=newest.key,
                            overtaken_ms=rel_ms(newest.time_ns, origin),
                        )
                    )
            elif first_delivery_ns.get(identity) == op.time_ns and not op.meta.get("redelivered"):
                # Marked redelivered, a message is not new even if the history never saw it delivered:
                # it reached a client that dropped it unrecorded (a subscription closing, a dead link).
                invoked = invoked_at.get(op.key, -1)
                if invoked > newest_invoked:
                    newest, newest_invoked = op, invoked
        if session_late and len(problems) < MAX_DETAILS:
            first = min(session_late, key=lambda x: x.overtaken_ms)
            problems.append(
                f"consumer {session.process}, alone on {session.destination} in the session whose first "
                f"delivery came {where(session.deliveries[0], origin)}: {len(session_late)} returned message(s) "
                f"({format_keys(x.key for x in session_late)}) came after newer ones (first {first.overtaken_by}, "
                f"delivered at {fmt_ms(first.overtaken_ms)}, sent after they were receipted); expected every "
                f"message returned at {fmt_ms(rel_ms(returned_at, origin))} ahead of newer ones"
            )
        late.extend(session_late)
    return RedeliveryOrderResult(
        valid=not late,
        sessions_checked=checked,
        returned_redelivered=returned_total,
        late=len(late),
        late_redeliveries=late,
        problems=problems,
    )
