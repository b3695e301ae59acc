"""Networks-of-brokers checkers on hand-made histories: each one passes a healthy network and fails a broken one."""

from harness.checkers import check_all, network_checkers, standard_checkers
from harness.checkers.network import (
    check_bridge_duplicates,
    check_bridge_ordering,
    check_load_spread,
    check_stuck,
    longest_gap_ms,
)
from harness.history import SUBSCRIBED, UNSUBSCRIBED
from tests.unit.checkers.checker_histories import HistoryBuilder


def subscribe(b: HistoryBuilder, consumer: int, node: str, at: float, drain: bool = False) -> None:
    meta = {"drain": True} if drain else {}
    b.add(consumer, "ok", SUBSCRIBED, None, node, at, **meta)


def unsubscribe(b: HistoryBuilder, consumer: int, node: str, at: float) -> None:
    b.add(consumer, "ok", UNSUBSCRIBED, None, node, at)


def test_messages_forwarded_promptly_are_not_stuck():
    b = HistoryBuilder()
    subscribe(b, 1, "amq3", at=0)
    for seq in range(5):
        b.send(f"p1#{seq}", node="amq1", at=10 + seq)
        b.receive(f"p1#{seq}", consumer=1, node="amq3", at=20 + seq)
    result = check_stuck(b.ops, bound_ms=1_000)
    assert result.valid, result.problems
    assert result.checked == 5 and result.stuck == 0
    assert result.max_wait_ms == 9.0  # receipted 1 ms after the send, delivered 10 ms after it


def test_messages_left_on_a_broker_whose_consumer_moved_away_are_stuck():
    """A consumer on amq2 moves to amq1; what was forwarded to amq2 waits there (no replay)."""
    b = HistoryBuilder()
    subscribe(b, 1, "amq2", at=0)
    b.send("p1#0", node="amq1", at=10)
    b.receive("p1#0", consumer=1, node="amq2", at=12)
    b.send("p1#1", node="amq1", at=15)  # forwarded to amq2, never dispatched there
    unsubscribe(b, 1, "amq2", at=20)
    subscribe(b, 2, "amq1", at=21)
    unsubscribe(b, 2, "amq1", at=30_021)
    subscribe(b, 3, "amq2", at=30_500, drain=True)
    b.receive("p1#1", consumer=3, node="amq2", drain=True, at=30_600)
    result = check_stuck(b.ops, bound_ms=10_000)
    assert not result.valid
    assert result.stuck == 1 and result.found_on == {"amq2": 1}
    # Receipted at 16: 16..20 and 21..30021 had a consumer; the gaps without one do not count.
    assert result.max_wait_ms == 30_004.0
    assert "waited over 10000.0 ms" in result.problems[0] and "p1#1" in result.problems[0]


def test_waiting_while_no_consumer_is_connected_anywhere_is_not_stuck():
    b = HistoryBuilder()
    b.send("p1#0", node="amq1", at=0)
    subscribe(b, 1, "amq3", at=60_000)
    b.receive("p1#0", consumer=1, node="amq3", at=60_010)
    assert check_stuck(b.ops, bound_ms=1_000).valid


def test_a_duplicate_from_two_brokers_after_a_receipted_ack_fails():
    b = HistoryBuilder()
    b.send("p1#0", node="amq1")
    b.receive("p1#0", consumer=1, node="amq2")
    b.ack("p1#0", consumer=1, node="amq2")
    b.receive("p1#0", consumer=2, node="amq3")
    result = check_bridge_duplicates(b.ops)
    assert not result.valid
    assert result.cross_bridge_duplicates == 1 and result.after_receipted_ack == 1
    assert "p1#0 on amq2, amq3" in result.problems[0]


def test_a_producers_resend_delivered_by_another_broker_after_the_first_copys_ack_is_another_message():
    b = HistoryBuilder()
    b.send("p1#0", node="amq1")  # its receipt was lost: the producer sent it again, stored as another message
    b.receive("p1#0", consumer=1, node="amq2", message_id="ID:amq1-1-7")
    b.ack("p1#0", consumer=1, node="amq2")
    b.receive("p1#0", consumer=2, node="amq3", message_id="ID:amq2-1-3")
    result = check_bridge_duplicates(b.ops)
    assert result.valid and result.cross_bridge_duplicates == 0
    # The same message-id from another broker after the receipted ack is the broken promise.
    b.receive("p1#0", consumer=2, node="amq3", message_id="ID:amq1-1-7")
    result = check_bridge_duplicates(b.ops)
    assert not result.valid and result.after_receipted_ack == 1
    assert "p1#0 on amq2, amq3" in result.problems[0]


def test_a_duplicate_from_two_brokers_before_any_ack_is_at_least_once():
    b = HistoryBuilder()
    b.send("p1#0", node="amq1")
    b.receive("p1#0", consumer=1, node="amq2")
    b.receive("p1#0", consumer=2, node="amq3")
    b.ack("p1#0", consumer=2, node="amq3")
    result = check_bridge_duplicates(b.ops)
    assert result.valid and result.cross_bridge_duplicates == 1


def test_a_redelivery_by_the_same_broker_is_not_a_bridge_duplicate():
    b = HistoryBuilder()
    b.send("p1#0", node="amq1")
    b.receive("p1#0", consumer=1, node="amq1")
    b.receive("p1#0", consumer=1, node="amq1", redelivered=True)
    assert check_bridge_duplicates(b.ops).cross_bridge_duplicates == 0


def bridged_out_of_order() -> HistoryBuilder:
    b = HistoryBuilder()
    for seq in range(4):
        b.send(f"p1#{seq}", node="amq1")
    for seq in (0, 2, 1, 3):
        b.receive(f"p1#{seq}", consumer=1, node="amq2")
    b.receive("p1#9", consumer=1, node="amq1")  # never sent on another broker: not counted as crossed
    return b


def test_reordering_across_a_bridge_is_a_figure_by_default():
    result = check_bridge_ordering(bridged_out_of_order().ops)
    assert result.valid and not result.promised
    assert result.crossed == 4 and result.reordered == 1
    assert result.examples == ["consumer 1 got p1#1 on amq2 after p1#2"]


def test_reordering_across_a_bridge_fails_where_order_is_promised():
    result = check_bridge_ordering(bridged_out_of_order().ops, promised=True)
    assert not result.valid and "1 backward steps across a bridge" in result.problems[0]


def test_local_deliveries_do_not_count_as_crossing():
    b = HistoryBuilder()
    b.send("p1#0", node="amq1")
    b.send("p1#1", node="amq1")
    b.receive("p1#1", consumer=1, node="amq1")
    b.receive("p1#0", consumer=1, node="amq1")
    assert check_bridge_ordering(b.ops, promised=True).crossed == 0


def test_load_spread_reports_each_consumers_share_and_broker():
    b = HistoryBuilder()
    subscribe(b, 1, "amq3", at=0)
    subscribe(b, 2, "amq4", at=1)
    b.receives("p1", range(0, 6), consumer=1, node="amq3")
    b.receives("p1", range(6, 10), consumer=2, node="amq4")
    result = check_load_spread(b.ops, min_share=0.25)
    assert result.valid
    assert result.deliveries == {"1": 6, "2": 4}
    assert result.shares == {"1": 0.6, "2": 0.4}
    assert result.nodes == {"1": "amq3", "2": "amq4"}
    assert result.figures()["consumer_deliveries"] == {"1": 6, "2": 4}


def test_a_starved_consumer_broker_fails_a_minimum_share():
    """A broken bridge in a fan-out: the bridge to amq4 broke, its consumer got nothing."""
    b = HistoryBuilder()
    subscribe(b, 1, "amq3", at=0)
    subscribe(b, 2, "amq4", at=1)
    b.receives("p1", range(10), consumer=1, node="amq3")
    result = check_load_spread(b.ops, min_share=0.2)
    assert not result.valid
    assert result.deliveries == {"1": 10, "2": 0}
    assert "2 (0)" in result.problems[0]


def test_drain_deliveries_count_neither_for_spread_nor_for_starvation_gaps():
    b = HistoryBuilder()
    b.receive("p1#0", consumer=1, node="amq3", at=0)
    b.receive("p1#1", consumer=1, node="amq3", at=500)
    b.receive("p1#2", consumer=9, node="amq4", drain=True, at=5_000)
    assert check_load_spread(b.ops).deliveries == {"1": 2}
    assert longest_gap_ms(b.ops) == 500.0


def test_network_checkers_compose_with_the_standard_ones_by_name():
    b = HistoryBuilder()
    subscribe(b, 1, "amq3", at=0)
    b.send("p1#0", node="amq1", at=1)
    b.receive("p1#0", consumer=1, node="amq3", at=20_000)
    verdict = check_all(b.ops, {**standard_checkers(), **network_checkers(stuck_bound_ms=1_000)})
    assert not verdict.valid
    assert verdict.stuck == 1 and verdict.max_stuck_wait_ms == 19_998.0  # receipted at 2 ms
    assert verdict.bridge_crossed == 1
    assert any(p.startswith("[stuck]") for p in verdict.problems)
