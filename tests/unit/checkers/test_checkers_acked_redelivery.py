from __future__ import annotations

from checker_histories import HistoryBuilder, healthy

from harness.checkers import check_redelivered_after_ack


def test_healthy_run_has_no_redelivery_after_ack() -> None:
    result = check_redelivered_after_ack(healthy(4).ops)
    assert result.valid, result.problems
    assert result.acks_receipted == 4
    assert result.redelivered_after_ack == 0


def test_delivery_after_a_receipted_ack_fails() -> None:
    """Acks forgotten on failover: the new master delivers a message whose ACK the old one receipted."""
    b = healthy(3)
    b.fault(1, "kill", "node1")
    b.receive("p1#1", consumer=1, node="node2", redelivered=True)
    b.receive("p1#2", consumer=2, node="node2", drain=True)
    result = check_redelivered_after_ack(b.ops)
    assert not result.valid
    assert result.redelivered_after_ack == 2
    assert result.messages == 2
    assert result.problems[0].startswith("2 deliveries of 2 message(s) after their ACK was receipted: p1#1..p1#2")
    assert "p1#1 redelivered to consumer 1" in result.problems[1]
    assert "(marked redelivered) after consumer 1's ACK of it was receipted" in result.problems[1]
    assert "p1#2 redelivered to the final drain" in result.problems[2]


def test_a_duplicate_without_a_receipted_ack_is_at_least_once() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(2))
    b.receive("p1#0")
    b.ack("p1#0", outcome="info")  # connection lost before the receipt
    b.receive("p1#1")
    b.ack("p1#1", outcome="fail")
    b.receive("p1#0", node="node2", redelivered=True)
    b.receive("p1#1", node="node2", redelivered=True)
    result = check_redelivered_after_ack(b.ops)
    assert result.valid, result.problems
    assert result.acks_receipted == 0


def test_a_delivery_while_the_ack_waits_for_its_receipt_is_not_after_it() -> None:
    b = HistoryBuilder()
    b.send("p1#0")
    b.receive("p1#0", consumer=1)
    b.add(1, "invoke", "ack", b.ops[-1].value)
    b.receive("p1#0", consumer=2, redelivered=True)  # before the receipt came back
    b.add(1, "ok", "ack", b.ops[1].value, "node1")
    result = check_redelivered_after_ack(b.ops)
    assert result.valid, result.problems
    assert result.acks_receipted == 1


def test_a_second_copy_from_a_resent_send_is_another_message() -> None:
    """A producer resent after a lost receipt: the broker stored two copies with different message-ids."""
    b = HistoryBuilder()
    b.send("p1#0")
    b.receive("p1#0", message_id="ID:a")
    b.ack("p1#0")
    b.receive("p1#0", message_id="ID:b")
    assert check_redelivered_after_ack(b.ops).valid
    b.receive("p1#0", message_id="ID:a", consumer=2)
    result = check_redelivered_after_ack(b.ops)
    assert not result.valid
    assert result.redelivered_after_ack == 1


def test_declared_non_durable_acks_are_reported_not_failed() -> None:
    b = healthy(1)
    b.receive("p1#0", node="node2")
    result = check_redelivered_after_ack(b.ops, acks_durable=False)
    assert result.valid
    assert result.redelivered_after_ack == 1
    assert "declares acks non-durable" in result.problems[0]
    assert "(acks declared non-durable)" in result.summary()
