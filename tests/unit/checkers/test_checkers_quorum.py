"""No master without a quorum: confirmations after the grace of a window below quorum fail the check."""

from __future__ import annotations

from checker_histories import HistoryBuilder

from harness.checkers.quorum import check_no_master_without_quorum
from harness.history import FAULT_END, FAULT_START, NEMESIS

BROKERS = ("amq1", "amq2", "amq3")
ZOOKEEPERS = ("zk1", "zk2", "zk3")


def _check(b: HistoryBuilder, grace_ms: float = 3000):  # type: ignore[no-untyped-def]
    return check_no_master_without_quorum(b.history(), brokers=BROKERS, zookeepers=ZOOKEEPERS, grace_ms=grace_ms)


def _zk_fault(b: HistoryBuilder, fault_id: int, nodes: list[str], at: float, end: bool = False) -> None:
    value = {"fault": "zookeeper-kill", "target": ",".join(nodes), "nodes": nodes, "fault_id": fault_id}
    b.add(NEMESIS, "info", FAULT_END if end else FAULT_START, value, at=at)


def test_a_master_that_keeps_confirming_without_its_slaves_fails() -> None:
    b = HistoryBuilder()
    b.send("p1#1", node="amq1", at=0)
    b.fault(0, "kill", "amq2", at=1000)
    b.fault(1, "kill", "amq3", at=1100)  # one broker of three left: no quorum from here
    b.send("p1#2", node="amq1", at=2000)  # within the grace: may still be on the wire
    b.send("p1#3", node="amq1", at=9100)  # about 5 s past the grace
    b.heal(1, "kill", "amq3", at=10_000)
    b.heal(0, "kill", "amq2", at=10_000)
    result = _check(b)
    assert not result.valid
    assert result.confirmations_without_quorum == 1
    assert result.confirmed_without_quorum_ms == 5001.0  # the receipt comes 1 ms after the send
    assert result.quorum_lost_ms == 8900.0
    assert "send p1#3 confirmed by amq1" in result.problems[0], result.problems


def test_a_master_that_stops_confirming_passes_and_shows_the_window() -> None:
    b = HistoryBuilder()
    b.send("p1#1", node="amq1", at=0)
    b.fault(0, "kill", "amq2", at=1000)
    b.fault(1, "pause", "amq3", at=1100)
    b.send("p1#2", "info", at=1200)  # no receipt: the master stopped confirming
    b.heal(1, "pause", "amq3", at=6000)
    b.send("p1#3", node="amq1", at=6500)  # the quorum is back
    b.heal(0, "kill", "amq2", at=7000)
    result = _check(b)
    assert result.valid, result.problems
    assert result.confirmations_without_quorum == 0 and result.confirmed_without_quorum_ms == 0
    assert result.quorum_lost_ms == 4900.0 and len(result.windows) == 1
    assert result.windows[0].what == "brokers 1/3 up"


def test_losing_the_zookeeper_quorum_counts_too() -> None:
    b = HistoryBuilder()
    _zk_fault(b, 0, ["zk1", "zk2"], at=1000)
    b.send("p1#1", node="amq1", at=4500)  # 500 ms past a 3 s grace
    _zk_fault(b, 0, ["zk1", "zk2"], at=8000, end=True)
    result = _check(b)
    assert not result.valid and result.confirmed_without_quorum_ms == 501.0
    assert result.windows[0].what == "zookeeper 1/3 up"


def test_one_node_down_keeps_the_quorum() -> None:
    b = HistoryBuilder()
    b.fault(0, "kill", "amq1", at=1000)
    _zk_fault(b, 1, ["zk3"], at=1000)
    b.send("p1#1", node="amq2", at=9000)
    result = _check(b)
    assert result.valid and result.quorum_lost_ms == 0 and not result.windows


def test_acknowledgements_are_confirmations_and_other_faults_take_nobody_down() -> None:
    b = HistoryBuilder()
    b.fault(0, "zookeeper-cut", "amq1", at=0)  # a cut link: every node is still up
    b.fault(1, "kill", "amq2", at=100)
    b.fault(2, "kill", "amq3", at=100)
    b.ack("p1#1", node="amq1")
    b.now_ms = 6000
    b.ack("p1#2", node="amq1")
    result = _check(b, grace_ms=2500)
    assert result.confirmations_without_quorum == 1 and "ack p1#2" in result.problems[0]
