from __future__ import annotations

from checker_histories import HistoryBuilder, healthy

from harness.checkers import check_split_brain

GROUPS = {"g1": ["node1", "node2"]}


def confirmations(nodes: list[str], fault_after: dict[int, int] | None = None) -> HistoryBuilder:
    """One receipted send per entry of ``nodes``, confirmed by that node; after entry i a fault on that
    node which heals at once (the killed node restarts as a slave, as in real runs)."""
    b = HistoryBuilder()
    for seq, node in enumerate(nodes):
        b.send(f"p1#{seq}", node=node)
        if fault_after and seq in fault_after:
            b.fault(fault_after[seq], target=node)
            b.heal(fault_after[seq], target=node)
    return b


def test_no_probes_and_no_groups() -> None:
    result = check_split_brain(healthy(3).ops)
    assert result.valid
    assert not result.split_brain
    assert result.groups == {}
    assert result.confirmations == 0  # node1 belongs to no known group
    assert result.problems == []


def test_probe_rounds_with_one_master_are_valid() -> None:
    b = HistoryBuilder()
    b.probe(1, {"node1": True, "node2": False})
    b.probe(2, {"node1": False, "node2": False})
    b.probe(3, {"node1": False, "node2": True})
    result = check_split_brain(b.ops)
    assert result.valid
    assert result.groups == {"g1": ["node1", "node2"]}  # derived from the probe records
    assert (result.probe_rounds, result.split_rounds, result.masterless_rounds) == (3, 0, 1)


def test_probe_rounds_with_two_masters() -> None:
    b = HistoryBuilder(step_ms=10.0)
    b.probe(1, {"node1": True, "node2": False})
    b.probe(2, {"node1": True, "node2": True})
    b.probe(3, {"node1": True, "node2": True})
    b.probe(4, {"node1": False, "node2": True})
    b.probe(5, {"node1": True, "node2": True})
    result = check_split_brain(b.ops)
    assert not result.valid
    assert result.split_brain
    assert result.split_rounds == 3
    first, second = result.intervals
    assert (first.group, first.nodes, first.rounds, first.source) == (
        "g1",
        ("node1", "node2"),
        (2, 3),
        "probe",
    )
    assert (first.start_ms, first.end_ms, first.duration_ms) == (20.0, 50.0, 30.0)
    assert second.rounds == (5,)
    assert result.problems[0] == (
        "group g1: expected at most one node accepting clients, saw node1 and node2 accepting in probe "
        "rounds 2..3 (2 round(s)) between 20.0 ms and 50.0 ms"
    )
    assert "probe round 5 (1 round(s))" in result.problems[1]


def test_groups_and_endpoints_translate_probe_nodes() -> None:
    b = HistoryBuilder()
    b.add("probe", "ok", "probe", {"round": 1, "accepting": True}, "127.0.0.1:61613")
    b.add("probe", "ok", "probe", {"round": 1, "accepting": True}, "127.0.0.1:61614")
    endpoints = {"127.0.0.1:61613": "node1", "127.0.0.1:61614": "node2"}
    result = check_split_brain(b.ops, groups=GROUPS, endpoints=endpoints)
    assert not result.valid
    assert result.intervals[0].nodes == ("node1", "node2")
    # Without the groups, the probes carry no group: nothing to check.
    assert check_split_brain(b.ops).valid


def test_separate_groups_do_not_mix() -> None:
    b = HistoryBuilder()
    b.probe(1, {"node1": True, "node2": False}, group="g1")
    b.probe(1, {"node3": True, "node4": False}, group="g2")
    result = check_split_brain(b.ops)
    assert result.valid
    assert result.groups == {"g1": ["node1", "node2"], "g2": ["node3", "node4"]}


def test_interleaved_confirmations_are_split_brain() -> None:
    b = confirmations(["node1", "node1", "node2", "node1", "node2"])
    result = check_split_brain(b.ops, groups=GROUPS)
    assert not result.valid
    assert result.interleavings == 2
    (interval,) = result.intervals  # the two interleavings overlap: one interval
    assert (interval.source, interval.nodes, interval.evidence) == ("confirmations", ("node1", "node2"), 2)
    assert (interval.start_ms, interval.end_ms) == (3.0, 9.0)
    assert result.problems == [
        "group g1: expected one master at a time, saw node1 and node2 confirm client operations interleaved "
        "between 3.0 ms and 9.0 ms (2 interleaving(s); first: node1 confirmed send p1#1 at 3.0 ms, node2 "
        "confirmed send p1#2 at 5.0 ms, node1 confirmed send p1#3 at 7.0 ms)"
    ]


def test_interleaving_through_receives_and_acks_with_endpoints() -> None:
    b = HistoryBuilder()
    b.send("p1#0", node="10.0.0.1:61613")
    b.receive("p1#0", node="10.0.0.2:61613")
    b.ack("p1#0", node="10.0.0.1:61613")
    endpoints = {"10.0.0.1:61613": "node1", "10.0.0.2:61613": "node2"}
    result = check_split_brain(b.ops, groups=GROUPS, endpoints=endpoints)
    assert not result.valid
    assert "node2 confirmed receive p1#0" in result.problems[0]
    assert "node1 confirmed ack p1#0" in result.problems[0]


def test_failover_is_not_split_brain() -> None:
    b = confirmations(["node1", "node1", "node2", "node2"], fault_after={1: 1})
    result = check_split_brain(b.ops, groups=GROUPS)
    assert result.valid
    assert result.confirmations == 4


def test_failback_after_faults_is_not_split_brain_by_default() -> None:
    b = confirmations(["node1", "node1", "node2", "node2", "node1"], fault_after={1: 1, 3: 2})
    assert check_split_brain(b.ops, groups=GROUPS).valid
    strict = check_split_brain(b.ops, groups=GROUPS, handover_at_faults=False)
    assert not strict.valid
    assert strict.interleavings == 1


def test_receipts_in_flight_when_the_master_is_killed_are_a_handover() -> None:
    # Each master confirms one more operation after its kill was recorded (the receipt was on its way).
    b = HistoryBuilder()
    b.send("p1#0", node="node1")
    b.fault(1, "kill", "node1")
    b.send("p1#1", node="node1")
    b.send("p1#2", node="node2")
    b.heal(1, "kill", "node1")  # node1 restarts as a slave
    b.fault(2, "kill", "node2")
    b.send("p1#3", node="node2")
    b.send("p1#4", node="node1")
    b.heal(2, "kill", "node2")
    assert check_split_brain(b.ops, groups=GROUPS).valid
    assert not check_split_brain(b.ops, groups=GROUPS, handover_at_faults=False).valid


def test_a_fault_on_the_group_does_not_excuse_interleaving_masters() -> None:
    # A stolen lock targets the group, not a node: node1 and node2 serving in turn after it is split brain.
    b = HistoryBuilder()
    b.send("p1#0", node="node1")
    b.fault(1, "steal-lock", "g1")
    for seq, node in enumerate(["node1", "node2", "node1", "node2"], start=1):
        b.send(f"p1#{seq}", node=node)
    result = check_split_brain(b.ops, groups=GROUPS)
    assert not result.valid
    assert result.interleavings == 2


def test_interleaving_after_a_healed_partition_is_caught() -> None:
    # node1 is cut off, node2 takes over; after the heal both serve clients.
    b = HistoryBuilder()
    b.send("p1#0", node="node1")
    b.fault(1, "partition", "node1")
    b.send("p1#1", node="node2")
    b.heal(1, "partition", "node1")
    for seq, node in enumerate(["node1", "node2", "node1"], start=2):
        b.send(f"p1#{seq}", node=node)
    result = check_split_brain(b.ops, groups=GROUPS)
    assert not result.valid
    assert result.interleavings == 2  # the first return follows the heal, the next ones do not


def test_nodes_outside_groups_are_ignored() -> None:
    b = confirmations(["node1", "node3", "node1", "node3"])
    assert check_split_brain(b.ops, groups=GROUPS).valid


def test_to_dict() -> None:
    b = HistoryBuilder().probe(1, {"node1": True, "node2": True})
    data = check_split_brain(b.ops).to_dict()
    assert data["split_brain"] is True
    assert data["intervals"][0]["nodes"] == ["node1", "node2"]


THREE = {"g1": ["node1", "node2", "node3"]}


def killed_master_late_receipt() -> HistoryBuilder:
    """node1 confirms p1#0, is killed, a receipt of its (p1#1) comes in late, node3 takes over."""
    b = HistoryBuilder()
    b.send("p1#0", node="node1")
    b.fault(0, target="node1")
    b.send("p1#1", node="node1")  # late: node1 was already killed
    b.send("p1#2", node="node3")
    b.heal(0, target="node1")
    return b


def test_late_receipt_from_a_killed_master_is_not_split_brain() -> None:
    """A receipt already on the wire when the master died is recorded after the kill: that is
    earlier work arriving late, not the dead node serving (seen on a loaded machine)."""
    b = killed_master_late_receipt()
    b.fault(1, target="node3")
    b.send("p1#3", node="node3")  # late again
    b.send("p1#4", node="node1")  # node1 took over after node3's kill
    b.heal(1, target="node3")
    result = check_split_brain(b.ops, groups=THREE)
    assert result.valid, result.problems
    assert result.confirmations == 3


def test_late_receipts_are_left_out_also_when_confirmations_are_recorded_out_of_time_order() -> None:
    """Times that do not rise with the index (clocks of several recording threads): each confirmation
    is still tested against its node's down windows, not found by bisecting the times."""
    ops = list(killed_master_late_receipt().ops)
    late = next(i for i, op in enumerate(ops) if op.type == "ok" and op.node == "node1" and op.key.seq == 1)
    taken = next(i for i, op in enumerate(ops) if op.type == "ok" and op.node == "node3")
    ops[taken] = ops[taken]._replace(time_ns=ops[late].time_ns - 1)  # recorded after, timed before
    assert ops[taken].time_ns < ops[late].time_ns and ops[taken].index > ops[late].index
    result = check_split_brain(ops, groups=THREE)
    assert result.valid, result.problems
    assert result.confirmations == 2  # p1#0 by node1, p1#2 by node3; node1's late receipt left out


def test_a_paused_node_that_confirms_after_it_resumed_still_counts() -> None:
    b = HistoryBuilder()
    b.send("p1#0", node="node1")
    b.fault(0, fault="pause", target="node1")
    b.heal(0, fault="pause", target="node1")
    b.send("p1#1", node="node2")
    b.send("p1#2", node="node1")  # after the pause healed: node1 is serving again, next to node2
    b.send("p1#3", node="node2")
    result = check_split_brain(b.ops, groups=THREE)
    assert not result.valid
    assert "node1 and node2 confirm client operations interleaved" in result.problems[0]


def test_the_drain_after_restarting_every_node_may_be_served_by_another_node() -> None:
    """Messages were missing, so every node was restarted: node1 serving that drain is no second master;
    node1 confirming the same delivery without that restart is."""
    for restarted in (True, False):
        b = confirmations(["node1", "node2", "node2"], fault_after={0: 1})
        b.receive("p1#1", node="node2")
        b.receive("p1#2", node="node1", drain=True, after_restart=restarted)
        b.ack("p1#2", node="node1")
        assert check_split_brain(b.ops, groups=GROUPS).valid is restarted


def test_a_fault_noticed_after_a_delay_hands_over_within_the_grace() -> None:
    # node2 serves; its lock is stolen; it confirms on until its keep-alive check notices (300 ms), then
    # node1 takes over. A clean handover back to a node that served before: split brain only without grace.
    b = HistoryBuilder(step_ms=100.0)
    b.send("p1#0", node="node1")
    b.fault(1, "kill", "node1")
    b.heal(1, "kill", "node1")
    b.send("p1#1", node="node2")
    b.fault(2, "steal-lock", "g1")
    b.heal(2, "steal-lock", "g1")
    b.send("p1#2", node="node2")
    b.send("p1#3", node="node2")
    b.send("p1#4", node="node1")
    b.send("p1#5", node="node1")
    assert not check_split_brain(b.ops, groups=GROUPS).valid
    assert check_split_brain(b.ops, groups=GROUPS, handover_grace_ms=1000).valid


def test_the_grace_does_not_excuse_masters_going_back_and_forth() -> None:
    b = HistoryBuilder(step_ms=100.0)
    b.send("p1#0", node="node1")
    b.fault(1, "steal-lock", "g1")
    for seq, node in enumerate(["node1", "node2", "node1", "node2", "node1"], start=1):
        b.send(f"p1#{seq}", node=node)
    result = check_split_brain(b.ops, groups=GROUPS, handover_grace_ms=10_000)
    assert not result.valid
    assert result.interleavings == 2  # of three returns, the fault explains one
