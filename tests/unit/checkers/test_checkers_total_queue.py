from __future__ import annotations

from checker_histories import HistoryBuilder, healthy, k

from harness.checkers import check_total_queue


def test_healthy_history_is_valid_with_figures() -> None:
    result = check_total_queue(healthy(5).ops)
    assert result.valid
    assert (result.attempted, result.acknowledged, result.received, result.deliveries) == (5, 5, 5, 5)
    assert (result.lost, result.unexpected, result.duplicated, result.recovered) == (0, 0, 0, 0)
    assert result.problems == []
    assert "valid: 5 attempted, 5 acknowledged, 5 received, 0 lost" in result.summary()


def test_empty_history_is_valid() -> None:
    result = check_total_queue([])
    assert result.valid
    assert result.attempted == result.received == 0


def test_lost_acknowledged_message_fails() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(3))
    b.send("p1#3", node="node2")
    b.receives("p1", range(3))
    result = check_total_queue(b.ops)
    assert not result.valid
    assert result.lost == 1
    assert result.lost_keys == [k("p1#3")]
    assert result.problems[0].startswith("1 acknowledged message(s) lost")
    assert "p1#3" in result.problems[0]
    # The detail names the key, the confirming node and the time of its receipt.
    assert "lost p1#3: expected a delivery after its send was receipted at 7.0 ms on node2" in result.problems[1]
    assert "saw none" in result.problems[1]


def test_lost_keys_are_listed_as_ranges() -> None:
    b = HistoryBuilder().sends("p1", range(10))
    b.receives("p1", range(0, 3))
    result = check_total_queue(b.ops)
    assert result.lost == 7
    assert "p1#3..p1#9" in result.problems[0]


def test_unexpected_value_fails() -> None:
    b = healthy(2)
    b.receive("p9#4", consumer=2, node="node2")
    result = check_total_queue(b.ops)
    assert not result.valid
    assert result.unexpected == 1
    assert result.unexpected_keys == [k("p9#4")]
    assert result.received == 3
    assert any("unexpected p9#4: no send of it was invoked" in p and "consumer 2" in p for p in result.problems)


def test_duplicates_are_counted_but_valid_without_exactly_once() -> None:
    b = healthy(3)
    b.receive("p1#1", redelivered=True, node="node2")
    b.receive("p1#1", redelivered=True, node="node2")
    b.receive("p1#2")
    result = check_total_queue(b.ops)
    assert result.valid
    assert result.duplicated == 3  # extra deliveries: p1#1 twice, p1#2 once
    assert result.duplicates == {k("p1#1"): 3, k("p1#2"): 2}
    assert result.deliveries == 6
    assert result.problems == []


def test_duplicates_fail_with_exactly_once() -> None:
    b = healthy(3)
    b.receive("p1#1", redelivered=True, node="node2")
    result = check_total_queue(b.ops, exactly_once=True)
    assert not result.valid
    assert result.duplicated == 1
    assert "1 duplicate deliveries of 1 message(s) where exactly-once is required: p1#1" in result.problems[0]
    assert "duplicate p1#1: expected one delivery, saw 2" in result.problems[1]
    assert "on node2 (redelivered)" in result.problems[1]


def test_info_sends_that_were_received_are_recovered() -> None:
    b = HistoryBuilder()
    b.send("p1#0")
    b.send("p1#1", "info")  # timeout: unknown
    b.send("p1#2", "info")  # unknown and indeed never delivered: not lost
    b.invoke_send("p1#3")  # the history ended before its completion: unknown too
    b.receive("p1#0")
    b.receive("p1#1")
    b.receive("p1#3", drain=True)
    result = check_total_queue(b.ops)
    assert result.valid
    assert result.indeterminate == 3
    assert result.recovered == 2
    assert result.recovered_keys == [k("p1#1"), k("p1#3")]
    assert result.lost == 0
    assert result.received_in_drain == 1


def test_failed_send_that_was_delivered_is_invalid() -> None:
    b = healthy(2)
    b.send("p1#2", "fail")
    b.receive("p1#2", consumer=3, node="node2")
    result = check_total_queue(b.ops)
    assert not result.valid
    assert result.failed == 1
    assert result.unacknowledged_received == 1
    assert result.unacknowledged_received_keys == [k("p1#2")]
    assert result.lost == result.unexpected == 0
    assert "1 message(s) whose send failed definitely were delivered: p1#2" in result.problems[0]
    assert "no delivery was expected; saw delivery to consumer 3" in result.problems[1]


def test_failed_send_not_delivered_is_fine() -> None:
    b = healthy(2)
    b.send("p1#2", "fail")
    result = check_total_queue(b.ops)
    assert result.valid
    assert (result.attempted, result.acknowledged, result.failed) == (3, 2, 1)


def test_drain_deliveries_count() -> None:
    b = HistoryBuilder().sends("p1", range(4))
    b.receives("p1", range(2))
    b.receive("p1#2", drain=True, consumer=9)
    b.receive("p1#3", drain=True, consumer=9)
    result = check_total_queue(b.ops)
    assert result.valid
    assert result.received == 4
    assert result.received_in_drain == 2


def test_to_dict_is_json_ready() -> None:
    b = healthy(2)
    b.receive("p1#1")
    data = check_total_queue(b.ops).to_dict()
    assert data["duplicates"] == {"p1#1": 2}
    assert data["lost_keys"] == []


def test_messages_found_only_after_restarting_every_node_are_stranded() -> None:
    b = HistoryBuilder()
    b.sends("p1", range(4))
    b.receive("p1#0")
    b.receive("p1#1", drain=True)
    b.receive("p1#2", after_restart=True)  # stored, but undeliverable until a restart
    b.receive("p1#1", after_restart=True, redelivered=True)  # delivered before: not stranded
    result = check_total_queue(b.ops)
    assert not result.valid
    assert (result.lost, result.stranded) == (1, 1)
    assert [str(k) for k in result.stranded_keys] == ["p1#2"]
    assert [str(k) for k in result.lost_keys] == ["p1#3"]
    assert result.problems[2].startswith(
        "1 acknowledged message(s) stranded (stored, but delivered only after every node was restarted): p1#2"
    )
    assert "saw only consumer 1 at" in result.problems[3]
    assert "(drain after restarting every node)" in result.problems[3]
    assert result.figures()["stranded"] == 1


def test_unconfirmed_sends_found_after_a_restart_are_recovered_not_stranded() -> None:
    b = HistoryBuilder()
    b.send("p1#0", "info")
    b.receive("p1#0", after_restart=True)
    result = check_total_queue(b.ops)
    assert result.valid, result.problems
    assert (result.stranded, result.recovered) == (0, 1)
