from __future__ import annotations

import pytest
from checker_histories import HistoryBuilder
from differential_histories import generate
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checkers import check_redelivery_order
from harness.checkers._common import MessageIdentity, is_client, is_delivery, message_identity
from harness.checkers.redelivery_order import _alone, _returned_before
from harness.checkers.sessions import Session, consumer_sessions
from harness.history import ACK, RECEIVE, MessageKey, Op, completions


def reopened(returned_first: bool) -> HistoryBuilder:
    """One consumer takes p1#0..2 without acking p1#1..2, closes, and subscribes again."""
    b = HistoryBuilder()
    b.sends("p1", range(6))
    b.subscribe(1)
    b.receive("p1#0")
    b.ack("p1#0")
    b.receive("p1#1")
    b.receive("p1#2")
    b.unsubscribe(1)
    b.subscribe(1)
    if returned_first:
        b.receive("p1#1", redelivered=True)
        b.receive("p1#2", redelivered=True)
        b.receive("p1#3")
    else:
        b.receive("p1#3")  # the returned messages went to the tail of the queue
        b.receive("p1#4")
        b.receive("p1#1", redelivered=True)
        b.receive("p1#2", redelivered=True)
    b.receive("p1#5")
    return b


def test_returned_messages_ahead_of_newer_ones() -> None:
    result = check_redelivery_order(reopened(returned_first=True).ops)
    assert result.valid, result.problems
    assert result.sessions_checked == 1
    assert result.returned_redelivered == 2


def test_returned_messages_at_the_tail_fail() -> None:
    result = check_redelivery_order(reopened(returned_first=False).ops)
    assert not result.valid
    assert result.late == 2
    assert [str(x.key) for x in result.late_redeliveries] == ["p1#1", "p1#2"]
    assert result.late_redeliveries[0].overtaken_by.seq == 4  # the newest new message delivered before it
    assert result.problems == [
        "consumer 1, alone on /queue/test in the session whose first delivery came at 20.0 ms on node1: 2 "
        "returned message(s) (p1#1..p1#2) came after newer ones (first p1#4, delivered at 21.0 ms, sent after "
        "they were receipted); expected every message returned at 18.0 ms ahead of newer ones"
    ]


def test_a_message_queued_ahead_of_a_returned_one_may_come_first() -> None:
    """Message groups: p1#1 was held back while its group's owner was busy, and p1#2 went out first.
    All come back in queue order; p1#1, never delivered, before the returned p1#2 is no violation."""
    b = HistoryBuilder()
    b.sends("p1", range(3))
    b.subscribe(1)
    b.subscribe(2)
    b.receive("p1#0", consumer=1, group="A")
    b.receive("p1#2", consumer=2, group="B")
    b.unsubscribe(1)
    b.unsubscribe(2)
    b.subscribe(3)
    b.receive("p1#0", consumer=3, group="A", redelivered=True)
    b.receive("p1#1", consumer=3, group="A")
    b.receive("p1#2", consumer=3, group="B", redelivered=True)
    result = check_redelivery_order(b.ops)
    assert result.valid, result.problems
    assert (result.sessions_checked, result.returned_redelivered) == (1, 2)


def test_an_interrupted_session_returns_its_messages_too() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(3))
    b.subscribe(1)
    b.receive("p1#0")
    b.ack("p1#0", outcome="fail")
    b.unsubscribe(1, cause="interrupted")
    b.receive("p1#1", node="node2")  # the new connection's first message, before "resumed" is recorded
    b.subscribe(1)
    b.receive("p1#0", node="node2", redelivered=True)
    result = check_redelivery_order(b.ops)
    assert not result.valid
    assert result.late == 1


def test_competing_consumers_are_not_held_to_it() -> None:
    b = reopened(returned_first=False)
    b.subscribe(2, at=0.5)  # a second consumer live through the whole run
    b.ops.sort(key=lambda op: op.time_ns)
    result = check_redelivery_order(b.ops)
    assert result.valid, result.problems
    assert result.sessions_checked == 0


def test_acked_messages_are_not_returned() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(3))
    b.subscribe(1)
    b.receive("p1#0")
    b.ack("p1#0")
    b.unsubscribe(1)
    b.subscribe(1)
    b.receive("p1#1")
    b.receive("p1#0")  # delivered again after its ACK: the redelivered-after-ack checker's business
    result = check_redelivery_order(b.ops)
    assert result.valid
    assert result.sessions_checked == 0


def test_history_without_sessions_checks_nothing() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(2))
    b.receive("p1#1")
    b.receive("p1#0", redelivered=True)
    result = check_redelivery_order(b.ops)
    assert result.valid
    assert result.sessions_checked == 0


def test_a_resent_copy_of_a_message_the_old_master_never_stored_is_new() -> None:
    """p1#1 was dispatched by the old master before its store committed it, then the master died: the
    producer's resend is a new message that may come after newer ones; the stored p1#0 may not."""
    b = HistoryBuilder()
    b.send("p1#0")
    b.invoke_send("p1#1")
    b.subscribe(1)
    b.receive("p1#0", message_id="ID:old-1")
    b.receive("p1#1", message_id="ID:old-2")
    b.unsubscribe(1, cause="interrupted")
    b.complete_send("p1#1", node="node2")  # resent to the new master
    b.send("p1#2", node="node2")
    b.subscribe(1)
    b.receive("p1#0", node="node2", message_id="ID:old-1", redelivered=True)
    b.receive("p1#2", node="node2", message_id="ID:new-1")
    b.receive("p1#1", node="node2", message_id="ID:new-2")
    result = check_redelivery_order(b.ops)
    assert result.valid, result.problems
    assert (result.sessions_checked, result.returned_redelivered) == (1, 1)


def test_a_message_marked_redelivered_is_not_new_even_if_no_delivery_was_recorded() -> None:
    """p1#3 reached the closing consumer after it stopped recording: the broker returns it too, and
    the order among returned messages is not this rule's business."""
    for marked in (True, False):
        b = HistoryBuilder()
        b.sends("p1", range(4))
        b.subscribe(1)
        b.receive("p1#1")
        b.receive("p1#2")
        b.unsubscribe(1)
        b.subscribe(1)
        b.receive("p1#3", redelivered=marked)
        b.receive("p1#1", redelivered=True)
        b.receive("p1#2", redelivered=True)
        assert check_redelivery_order(b.ops).valid is marked


def _alone_by_definition(sessions: list[Session]) -> list[Session]:
    return [
        s
        for s in sessions
        if s.deliveries and not any(o is not s and o.destination == s.destination and o.overlaps(s) for o in sessions)
    ]


def _returned_by_definition(ops: list[Op], session: Session) -> set[MessageIdentity]:
    acked_at: dict[MessageKey, list[int]] = {}
    for completion in completions(ops).values():
        if completion.f == ACK and completion.type == "ok" and is_client(completion):
            acked_at.setdefault(completion.key, []).append(completion.time_ns)
    last: dict[MessageIdentity, Op] = {}
    for op in ops:
        if is_delivery(op) and op.time_ns < session.start_ns and op.meta.get("destination") == session.destination:
            last[message_identity(op)] = op
    return {
        i for i, op in last.items() if not any(op.time_ns <= t < session.start_ns for t in acked_at.get(op.key, ()))
    }


@settings(deadline=None)  # no timed assertion: the machine is shared
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 8) | st.none(), st.sampled_from("ab"), st.booleans())))
def test_lone_sessions_are_those_no_other_session_overlaps(spans: list[tuple[int, int | None, str, bool]]) -> None:
    """The sweep over sessions by start finds exactly the sessions the definition does (equal times,
    empty and open sessions included)."""
    sessions = [
        Session(i, destination, False, start, None if length is None else start + length)
        for i, (start, length, destination, _) in enumerate(spans)
    ]
    for session, (*_, delivered) in zip(sessions, spans, strict=True):
        if delivered:
            session.deliveries.append(Op(0, session.process, "ok", RECEIVE, MessageKey("p", 0), session.start_ns))
    assert _alone(sessions) == _alone_by_definition(sessions)


@pytest.mark.parametrize("seed", range(40, 52))
def test_returned_messages_are_those_the_definition_gives(seed: int) -> None:
    """One walk over the deliveries for all sessions gives each session what looking back from it
    gives: last deliveries before it with no receipted ACK between them and its start."""
    ops = generate(seed, frozenset({"tail-return", "reorder", "ack-redelivery"}))
    sessions = consumer_sessions(ops).all
    assert len(sessions) > 5
    acked_at: dict[MessageKey, list[int]] = {}
    for completion in completions(ops).values():
        if completion.f == ACK and completion.type == "ok" and is_client(completion):
            acked_at.setdefault(completion.key, []).append(completion.time_ns)
    found = _returned_before(ops, sessions, acked_at)
    assert sum(map(len, found.values())) > 0
    for session in sessions:
        assert found[id(session)] == _returned_by_definition(ops, session)
