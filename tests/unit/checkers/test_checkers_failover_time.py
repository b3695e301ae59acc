from __future__ import annotations

from checker_histories import HistoryBuilder, healthy

from harness.checkers import check_failover_time


def outage(recover: bool = True) -> HistoryBuilder:
    """Sends every 10 ms; node1 killed at 100 ms; sends fail until 150 ms; healed at 300 ms."""
    b = HistoryBuilder()
    for seq in range(10):  # 0..90 ms: fine
        b.send(f"p1#{seq}", at=seq * 10.0)
        b.receive(f"p1#{seq}")
    b.invoke_send("p1#10", at=99.0)  # in flight when the fault starts
    b.fault(1, "kill", "node1", at=100.0)
    b.complete_send("p1#10", "ok", "node1", at=101.0)  # its receipt does not show recovery
    b.send("p1#11", "info", at=110.0)
    b.send("p1#12", "fail", at=130.0)
    if recover:
        b.invoke_send("p1#13", at=150.0)
        b.complete_send("p1#13", "ok", "node2", at=160.0)
        b.receive("p1#13", node="node2", at=175.0)
    else:
        b.send("p1#13", "info", at=150.0)
    b.heal(1, "kill", "node1", at=300.0)
    b.send("p1#14", "ok" if recover else "fail", "node2", at=320.0)
    return b


def test_no_faults_at_all() -> None:
    result = check_failover_time(healthy(5).ops, bound_ms=1.0)
    assert result.valid
    assert result.faults == []
    assert result.failover_ms == []
    # The longest stretch between successes on the builder's 1 ms clock.
    assert result.max_unavailable_ms == 3.0
    assert result.problems == []
    assert "no faults" in result.summary()


def test_failover_with_recovery() -> None:
    result = check_failover_time(outage().ops)
    assert result.valid
    (fault,) = result.faults
    assert (fault.fault_id, fault.fault, fault.target) == (1, "kill", "node1")
    assert (fault.start_ms, fault.end_ms) == (100.0, 300.0)
    assert fault.sends_attempted == 4  # p1#11..14; p1#10 was invoked before the fault
    assert fault.send_ms == 60.0  # p1#13 receipted at 160 ms; p1#10's receipt at 101 ms does not count
    assert fault.receive_ms == 75.0
    assert fault.failover_ms == 60.0
    assert result.failover_ms == [60.0]
    # Successes counted for the fault: 160 (p1#13 receipted), 175 (p1#13 delivered), then the first one
    # after the heal at 300: p1#14 receipted at 321. p1#10's receipt at 101 does not count. The workload
    # was idle from 175 to 320, so that is the longest window.
    assert fault.max_unavailable_ms == 146.0
    assert result.max_unavailable_ms == 146.0
    assert result.max_unavailable_window == (175.0, 321.0)


def test_unavailability_window_per_fault_starts_at_the_fault() -> None:
    b = HistoryBuilder()
    for seq in range(30):  # a send every 10 ms, except between 100 and 250 ms
        at = seq * 10.0
        if 100.0 <= at < 250.0:
            b.send(f"p1#{seq}", "info", at=at)
        else:
            b.send(f"p1#{seq}", at=at)
    b.fault(1, at=95.0)
    b.heal(1, at=200.0)
    result = check_failover_time(b.ops)
    # Last success before the fault: p1#9 receipted at 91; first after: p1#25 at 251.
    assert result.max_unavailable_ms == 160.0
    assert result.max_unavailable_window == (91.0, 251.0)
    assert result.faults[0].max_unavailable_ms == 156.0  # from the fault's start at 95
    assert result.failover_ms == [156.0]


def test_bound_respected_and_violated() -> None:
    assert check_failover_time(outage().ops, bound_ms=60.0).valid
    result = check_failover_time(outage().ops, bound_ms=50.0)
    assert not result.valid
    assert result.problems == [
        "fault 1 (kill node1) started at 100.0 ms: expected failover within 50.0 ms, saw the first receipted "
        "send after 60.0 ms"
    ]


def test_failover_without_recovery() -> None:
    history = outage(recover=False).ops
    result = check_failover_time(history)
    (fault,) = result.faults
    assert fault.send_ms is None
    assert fault.receive_ms is None
    assert fault.failover_ms is None
    assert result.unrecovered == 1
    assert result.valid  # no bound asserted: reported, not failed
    assert result.problems == [
        "fault 1 (kill node1) started at 100.0 ms: expected a receipted send after it, saw none of the 4 "
        "send(s) attempted after it succeed (no recovery seen)"
    ]
    # Unavailable from the fault to the end of the workload (the last send failed at 321 ms).
    assert fault.max_unavailable_ms == 221.0
    assert result.max_unavailable_ms == 220.0  # globally p1#10 receipted at 101 ms still counts

    bounded = check_failover_time(history, bound_ms=10_000.0)
    assert not bounded.valid


def test_no_sends_after_fault_falls_back_to_receive() -> None:
    b = HistoryBuilder().sends("p1", range(3))
    b.fault(7, "pause", "node2", at=10.0)
    b.receive("p1#0", at=40.0)
    b.heal(7, "pause", "node2", at=50.0)
    result = check_failover_time(b.ops, bound_ms=35.0)
    (fault,) = result.faults
    assert fault.sends_attempted == 0
    assert fault.send_ms is None
    assert fault.receive_ms == 30.0
    assert fault.failover_ms == 30.0
    assert result.valid
    assert not check_failover_time(b.ops, bound_ms=20.0).valid
    assert (
        "saw the first delivery (no sends attempted after it) after 30.0 ms"
        in check_failover_time(b.ops, bound_ms=20.0).problems[0]
    )


def test_fault_with_nothing_after_it_is_not_a_violation() -> None:
    b = healthy(3)
    b.fault(1, at=100.0)
    b.heal(1, at=110.0)
    result = check_failover_time(b.ops, bound_ms=1.0)
    assert result.valid
    assert result.failover_ms == [None]
    assert result.faults[0].max_unavailable_ms == 0.0


def test_several_faults_and_unhealed_fault() -> None:
    b = HistoryBuilder()
    b.send("p1#0", at=0.0)
    b.fault(1, "kill", "node1", at=10.0)
    b.send("p1#1", node="node2", at=20.0)  # receipted at 21 by the new master
    b.heal(1, "kill", "node1", at=30.0)
    b.fault(2, "partition", "node2", at=40.0)
    b.send("p1#2", "info", at=50.0)
    b.send("p1#3", node="node1", at=90.0)  # receipted at 91; the partition never heals
    result = check_failover_time(b.ops)
    assert [f.fault_id for f in result.faults] == [1, 2]
    assert result.failover_ms == [11.0, 51.0]
    assert result.faults[1].end_ms is None
    assert result.faults[1].fault == "partition"


def test_drain_deliveries_are_not_recovery() -> None:
    b = HistoryBuilder()
    b.send("p1#0", at=0.0)
    b.fault(1, at=10.0)
    b.send("p1#1", "info", at=20.0)
    b.heal(1, at=500.0)
    b.receive("p1#0", drain=True, at=1000.0)
    b.receive("p1#1", drain=True, at=1001.0)
    result = check_failover_time(b.ops)
    assert result.faults[0].send_ms is None
    assert result.faults[0].receive_ms is None
    # The workload phase ended with the last send (its completion at 21 ms): the drain pause is not counted.
    assert result.max_unavailable_ms == 20.0


def test_the_faulty_nodes_last_receipts_are_not_recovery() -> None:
    # A kill through the Docker API lands milliseconds after its start record: the old master still
    # receipts a send invoked after the start. Recovery is the new master's first receipt.
    b = HistoryBuilder()
    b.send("p1#0", node="node1", at=0.0)
    b.fault(1, "kill", "node1", at=10.0)
    b.send("p1#1", node="node1", at=12.0)  # invoked after the start, receipted by the dying master
    b.receive("p1#1", node="node1", at=14.0)
    b.send("p1#2", node="node2", at=400.0)
    b.receive("p1#2", node="node2", at=420.0)
    b.heal(1, "kill", "node1", at=500.0)
    (fault,) = check_failover_time(b.ops).faults
    assert (fault.send_ms, fault.receive_ms) == (391.0, 410.0), "the dying master's receipt counted as recovery"


def test_a_paused_node_serving_again_after_the_heal_is_recovery() -> None:
    b = HistoryBuilder()
    b.send("p1#0", node="node1", at=0.0)
    b.fault(1, "pause", "node1", at=10.0)
    b.send("p1#1", node="node1", at=11.0)  # receipted before the freeze landed
    b.heal(1, "pause", "node1", at=3000.0)
    b.send("p1#2", node="node1", at=3005.0)
    assert check_failover_time(b.ops).failover_ms == [2996.0]
