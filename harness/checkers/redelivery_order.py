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

import bisect
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.checkers._common import (
    MAX_DETAILS,
    HistoryLike,
    MessageIdentity,
    as_ops,
    client_completions,
    count_deliveries_before,
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
    ops: Sequence[Op], sessions: Sequence[Session], acked_at: dict[MessageKey, list[int]]
) -> dict[int, set[MessageIdentity]]:
    """For each session (by ``id``), the messages delivered before it began whose last delivery then
    had no receipted ACK (an ACK receipted at or after that delivery and before the session began).

    By broker message, not by key: a copy the broker never stored (its send had no receipt yet) that
    a producer then sent again is a new message, not a returned one.

    One walk for all sessions, in order of their start: each delivery is taken in once, as the pending
    last delivery of its message on its destination, and leaves when the first receipted ACK after
    it comes before the session being looked at (sessions only start later from then on).
    """
    deliveries = delivery_ops(ops)
    acks = {key: sorted(times) for key, times in acked_at.items()}
    pending: dict[str | None, dict[MessageIdentity, Op]] = {}
    acked_from: list[tuple[int, int, MessageIdentity, str | None, Op]] = []  # a heap, by the ACK's time
    taken = 0
    returned: dict[int, set[MessageIdentity]] = {}
    for session in sorted(sessions, key=lambda s: s.start_ns):
        upto = count_deliveries_before(ops, session.start_ns)
        while taken < upto:
            op = deliveries[taken]
            taken += 1
            identity = message_identity(op)
            destination = op.meta.get("destination")
            pending.setdefault(destination, {})[identity] = op
            times = acks.get(op.key)
            if times:
                at = bisect.bisect_left(times, op.time_ns)
                if at < len(times):
                    heapq.heappush(acked_from, (times[at], taken, identity, destination, op))
        while acked_from and acked_from[0][0] < session.start_ns:
            _, _, identity, destination, op = heapq.heappop(acked_from)
            if pending[destination].get(identity) is op:  # not delivered again since
                del pending[destination][identity]
        returned[id(session)] = set(pending.get(session.destination, ()))
    return returned


def _alone(sessions: Sequence[Session]) -> list[Session]:
    """The sessions with deliveries that no other consumer's session on their destination overlaps, in
    their order.

    Per destination, by start: the sessions that start before one ends are a prefix of that order,
    and it has company iff one of them other than itself ends after it starts (the latest and second
    latest end of each prefix are kept, so that the session itself can be left out).
    """
    by_destination: dict[str | None, list[Session]] = {}
    for session in sessions:
        by_destination.setdefault(session.destination, []).append(session)
    alone: set[int] = set()
    for group in by_destination.values():
        order = sorted(group, key=lambda s: s.start_ns)
        starts = [s.start_ns for s in order]
        ends = [math.inf if s.end_ns is None else s.end_ns for s in order]
        tops: list[tuple[float, int, float]] = []  # per prefix: latest end, whose, second latest end
        latest, latest_at, second = -math.inf, -1, -math.inf
        for i, end in enumerate(ends):
            if end > latest:
                latest, latest_at, second = end, i, latest
            elif end > second:
                second = end
            tops.append((latest, latest_at, second))
        for i, session in enumerate(order):
            if not session.deliveries:
                continue
            before = bisect.bisect_left(starts, ends[i])  # sessions that start before this one ends
            if before == 0:
                alone.add(id(session))
                continue
            latest, latest_at, second = tops[before - 1]
            other_end = second if latest_at == i else latest
            if not other_end > session.start_ns:
                alone.add(id(session))
    return [s for s in sessions if id(s) in alone]


def check_redelivery_order(history: HistoryLike) -> RedeliveryOrderResult:
    """Check that a lone consumer gets returned messages before newer ones (see module doc)."""
    ops = as_ops(history)
    origin = origin_ns(ops)
    sessions = consumer_sessions(ops)
    lone = _alone(sessions.all)
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
    returned_by_session = _returned_before(ops, lone, acked_at) if lone else {}
    session_ends = sorted(s.end_ns for s in sessions.all if s.end_ns is not None)
    for session in lone:
        returned = returned_by_session[id(session)]
        if not returned:
            continue
        checked += 1
        # The latest end of a session at or before this one's start: when its messages were returned.
        ended = bisect.bisect_right(session_ends, session.start_ns)
        returned_at = session_ends[ended - 1] if ended else session.start_ns
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
