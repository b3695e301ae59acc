from __future__ import annotations

from checker_histories import HistoryBuilder

from harness.checkers import check_exclusivity, check_group_ownership


def groups_with_late_joiner(moves_while_owner_lives: bool) -> HistoryBuilder:
    """Consumer 1 holds group A; consumer 2 joins; A moves to 2 while 1 still lives (or after 1 closed)."""
    b = HistoryBuilder()
    b.sends("p1", range(4))
    b.subscribe(1)
    b.receive("p1#0", consumer=1, group="A")
    b.receive("p1#1", consumer=1, group="A")
    b.subscribe(2)
    if not moves_while_owner_lives:
        b.unsubscribe(1)
    b.receive("p1#2", consumer=2, group="A")
    b.receive("p1#3", consumer=2, group="A")
    return b


def test_a_group_stays_with_its_live_owner() -> None:
    result = check_group_ownership(groups_with_late_joiner(moves_while_owner_lives=False).ops)
    assert result.valid, result.problems
    assert (result.things, result.holdings, result.moves) == (1, 2, 0)


def test_a_group_moving_from_a_live_owner_fails() -> None:
    result = check_group_ownership(groups_with_late_joiner(moves_while_owner_lives=True).ops)
    assert not result.valid
    assert result.moves == 1
    assert result.problems == [
        "group A of /queue/test delivered to consumer 2 at 12.0 ms on node1 while consumer 1 held it (since its "
        "delivery at 9.0 ms on node1) and was still subscribed: expected one live consumer at a time"
    ]
    assert result.figures() == {"group_moves": 1}


def test_a_new_master_starts_with_no_owners() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(2))
    b.subscribe(1)
    b.subscribe(2)
    b.receive("p1#0", consumer=1, group="A", node="node1")
    b.receive("p1#1", consumer=2, group="A", node="node2")  # consumer 1's session on node1 not yet over
    assert check_group_ownership(b.ops).valid


def test_group_seq_reassigns_and_closes_a_group() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(4))
    b.subscribe(1)
    b.subscribe(2)
    b.receive("p1#0", consumer=1, group="A")
    b.receive("p1#1", consumer=2, group="A", group_seq=1)  # JMSXGroupSeq 1: reassigned
    b.receive("p1#2", consumer=2, group="A", group_seq=-1)  # closes the group
    b.receive("p1#3", consumer=1, group="A")
    result = check_group_ownership(b.ops)
    assert result.valid, result.problems


def exclusive(takeover_from_live: bool) -> HistoryBuilder:
    b = HistoryBuilder()
    b.sends("p1", range(4))
    b.subscribe(1, exclusive=True)
    b.receive("p1#0", consumer=1)
    b.subscribe(2, exclusive=True)
    b.receive("p1#1", consumer=1)
    if not takeover_from_live:
        b.unsubscribe(1, cause="interrupted")
    b.receive("p1#2", consumer=2)
    b.receive("p1#3", consumer=2)
    return b


def test_exclusive_takeover_after_the_owner_left() -> None:
    result = check_exclusivity(exclusive(takeover_from_live=False).ops)
    assert result.valid, result.problems
    assert result.holdings == 2


def test_second_exclusive_consumer_receiving_while_the_owner_lives_fails() -> None:
    result = check_exclusivity(exclusive(takeover_from_live=True).ops)
    assert not result.valid
    assert result.moves == 1
    assert "exclusive queue /queue/test delivered to consumer 2" in result.problems[0]
    assert result.figures() == {"exclusive_overlaps": 1}


def test_non_exclusive_consumers_compete_freely() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(2))
    b.subscribe(1)
    b.subscribe(2)
    b.receive("p1#0", consumer=1)
    b.receive("p1#1", consumer=2)
    result = check_exclusivity(b.ops)
    assert result.valid
    assert result.holdings == 0


def test_consumers_without_sessions_are_counted_as_unchecked() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(2))
    b.receive("p1#0", consumer=1, group="A")
    b.receive("p1#1", consumer=2, group="A")
    result = check_group_ownership(b.ops)
    assert result.valid
    assert result.untracked_deliveries == 2
    assert "2 deliveries without consumer sessions not checked" in result.summary()
