from __future__ import annotations

import pytest
from checker_histories import HistoryBuilder, healthy, k

from harness.checkers import check_ordering


def delivered(order: list[int], sends: int | None = None, consumer: int = 1) -> HistoryBuilder:
    b = HistoryBuilder().sends("p1", range(sends if sends is not None else max(order) + 1))
    for seq in order:
        b.receive(f"p1#{seq}", consumer=consumer)
    return b


def test_in_order_deliveries_are_valid() -> None:
    result = check_ordering(healthy(5).ops)
    assert result.valid
    assert (result.streams, result.deliveries, result.jumps, result.reordered) == (1, 5, 0, 0)
    assert result.problems == []


def test_no_deliveries_at_all_is_valid() -> None:
    result = check_ordering(HistoryBuilder().sends("p1", range(3)).ops)
    assert result.valid
    assert result.streams == result.deliveries == 0


def test_reordering_fails() -> None:
    result = check_ordering(delivered([0, 1, 3, 2, 4]).ops)
    assert not result.valid
    assert result.reordered == 1
    assert result.jumps == 1
    gap = result.gaps[0]
    assert (gap.from_key, gap.to_key, gap.skipped, gap.reordered) == (
        k("p1#1"),
        k("p1#3"),
        [k("p1#2")],
        [k("p1#2")],
    )
    assert result.problems == [
        "consumer 1, producer p1: jump forward 1 from p1#1 to p1#3 at 12.0 ms on node1 (expected next: p1#2; "
        "skipped p1#2): p1#2 delivered later at 13.0 ms on node1 out of order (reordered)"
    ]


def test_jump_forward_later_filled_vs_never_filled() -> None:
    filled = check_ordering(delivered([0, 3, 1, 2]).ops)
    assert not filled.valid
    assert filled.reordered == 2
    assert "jump forward 2 from p1#0 to p1#3" in filled.problems[0]

    never = check_ordering(delivered([0, 3], sends=4).ops)
    # A gap never filled is loss: total-queue's failure; ordering itself saw nothing out of order.
    assert never.valid
    assert never.reordered == 0
    assert never.lost_in_gaps == 2
    assert never.gaps[0].lost == [k("p1#1"), k("p1#2")]
    assert "jump forward 2 from p1#0 to p1#3" in never.problems[0]
    assert "p1#1..p1#2 never delivered (lost, as total-queue reports)" in never.problems[0]


def test_skipped_unacknowledged_sends_are_not_gaps() -> None:
    b = HistoryBuilder()
    b.send("p1#0")
    b.send("p1#1", "info")
    b.send("p1#2", "fail")
    b.send("p1#3")
    b.receive("p1#0")
    b.receive("p1#3")
    result = check_ordering(b.ops)
    assert result.valid
    assert result.jumps == 0
    assert result.problems == []


def test_backward_step_that_is_a_redelivery_is_legal() -> None:
    # A repeat of a seen seq, and a backward step to a seq flagged redelivered that filled a gap.
    b = delivered([0, 1, 2])
    b.receive("p1#1", redelivered=True)
    b.send("p1#3").send("p1#4")
    b.receive("p1#4")
    b.receive("p1#3", redelivered=True, node="node2")
    result = check_ordering(b.ops)
    assert result.valid, result.problems
    assert result.repeats == 1
    assert result.redelivered_steps == 1
    assert result.gaps[0].redelivered == [k("p1#3")]
    assert result.problems == []


def test_backward_step_to_message_delivered_before_elsewhere_is_a_redelivery() -> None:
    b = delivered([0, 1, 2, 3], consumer=1)
    b.receive("p1#3", consumer=2)
    b.receive("p1#1", consumer=2)  # no redelivered flag, but consumer 1 had it before
    result = check_ordering(b.ops)
    assert result.valid
    assert result.redelivered_steps == 1


def test_illegal_backward_step_fails() -> None:
    b = HistoryBuilder().sends("p1", range(4))
    b.receive("p1#3", consumer=2, node="node2")
    b.receive("p1#1", consumer=2, node="node2")
    result = check_ordering(b.ops)
    assert not result.valid
    assert result.illegal_backward_steps == 1
    step = result.illegal_steps[0]
    assert (step.consumer, step.from_key, step.to_key, step.node) == (2, k("p1#3"), k("p1#1"), "node2")
    assert result.problems == [
        "consumer 2, producer p1: illegal backward step from p1#3 (delivered at 8.0 ms on node2) to p1#1 "
        "at 9.0 ms on node2: expected increasing seqs; p1#1 was receipted, was not delivered before, is not "
        "marked redelivered and fills no gap of this stream"
    ]


def test_backward_step_to_unreceipted_send_is_only_counted() -> None:
    b = HistoryBuilder()
    b.send("p1#0")
    b.send("p1#1", "info")
    b.send("p1#2")
    for seq in (0, 2, 1):
        b.receive(f"p1#{seq}")
    result = check_ordering(b.ops)
    assert result.valid
    assert result.unconfirmed_steps == 1


def test_competing_consumers_in_consumer_scope() -> None:
    b = HistoryBuilder().sends("p1", range(6))
    for seq in range(6):
        b.receive(f"p1#{seq}", consumer=1 + seq % 2)
    result = check_ordering(b.ops)
    assert result.valid
    assert result.streams == 2
    assert result.jumps == 0  # skipped seqs went to the other consumer


def test_producers_are_separate_streams() -> None:
    b = HistoryBuilder().sends("p1", range(3)).sends("p2", range(3))
    for seq in range(3):
        b.receive(f"p2#{seq}")
        b.receive(f"p1#{seq}")
    result = check_ordering(b.ops)
    assert result.valid
    assert result.streams == 2


def grouped(deliveries: list[tuple[int, str, int]]) -> HistoryBuilder:
    """Sends p1#0..5, even seqs in group A, odd in B; deliveries are (seq, group, consumer)."""
    b = HistoryBuilder()
    for seq in range(6):
        b.send(f"p1#{seq}", group="A" if seq % 2 == 0 else "B")
    for seq, group, consumer in deliveries:
        b.receive(f"p1#{seq}", consumer=consumer, group=group)
    return b


def test_per_group_order_with_competing_consumers() -> None:
    b = grouped([(0, "A", 1), (1, "B", 2), (2, "A", 1), (3, "B", 2), (4, "A", 1), (5, "B", 2)])
    for scope in ("consumer", "group"):
        result = check_ordering(b.ops, scope=scope)
        assert result.valid, (scope, result.problems)
        assert result.streams == 2
        assert result.jumps == 0


def test_group_moving_to_another_consumer_keeps_group_order() -> None:
    b = grouped([(0, "A", 1), (2, "A", 1), (4, "A", 2), (1, "B", 2), (3, "B", 2), (5, "B", 2)])
    result = check_ordering(b.ops, scope="group")
    assert result.valid


def test_reordering_within_a_group() -> None:
    b = grouped([(0, "A", 1), (4, "A", 1), (1, "B", 2), (2, "A", 1), (3, "B", 2), (5, "B", 2)])
    for scope in ("consumer", "group"):
        result = check_ordering(b.ops, scope=scope)
        assert not result.valid
        assert result.reordered == 1
        # Only p1#2 is a gap: p1#1 and p1#3 belong to group B.
        assert result.gaps[0].skipped == [k("p1#2")]
    assert (
        check_ordering(b.ops, scope="group")
        .problems[0]
        .startswith("group A, producer p1: jump forward 1 from p1#0 to p1#4")
    )
    assert (
        check_ordering(b.ops, scope="consumer")
        .problems[0]
        .startswith("consumer 1, producer p1, group A: jump forward 1 from p1#0 to p1#4")
    )


def test_group_reordered_across_consumers_only_fails_in_group_scope() -> None:
    b = grouped([(0, "A", 1), (4, "A", 2), (2, "A", 1)])
    assert check_ordering(b.ops, scope="consumer").valid
    result = check_ordering(b.ops, scope="group")
    assert not result.valid
    assert result.reordered == 1


def test_group_scope_ignores_ungrouped_deliveries() -> None:
    result = check_ordering(delivered([0, 2, 1]).ops, scope="group")
    assert result.valid
    assert result.streams == result.deliveries == 0


def test_unknown_scope_is_rejected() -> None:
    with pytest.raises(ValueError, match="scope"):
        check_ordering([], scope="global")  # type: ignore[arg-type]
