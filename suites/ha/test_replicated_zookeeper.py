"""Replicated master/slave: what ZooKeeper's faults do to the election. One ZooKeeper node of
three lost keeps the ensemble's quorum; two lost leave no quorum, and then there may be no master. A
master cut from ZooKeeper alone (it still reaches its slaves and clients) must give way to a new one."""

import pytest

from harness.topology import replicated


@pytest.mark.topology(replicated())
def test_replicated_one_zookeeper_node_killed(cluster, workload, faults, replicated_checks):
    """kill -9 of the ZooKeeper leader: the other two elect a leader and keep the quorum; the brokers'
    sessions move to them. Nothing receipted is lost, and there is one master at a time."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        with faults.kill_zookeeper(count=1):
            faults.hold_for(3)  # the brokers' sessions move to the two that are left
            cluster.wait_for_master(timeout=30)
            workload.wait_for_traffic()
    workload.check(checkers=replicated_checks).require(lost=0, split_brain=False)


@pytest.mark.topology(replicated())
def test_replicated_no_master_without_a_zookeeper_quorum(cluster, workload, faults, replicated_checks):
    """Two ZooKeeper nodes of three killed for 6 s: no quorum, so no master may confirm anything past the
    session timeout plus one keep-alive (a checked figure); once they are back a master serves again and
    nothing receipted is lost."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        with faults.kill_zookeeper(count=2):
            faults.hold_for(6)  # three times zkSessionTimeout without a ZooKeeper quorum
        cluster.wait_for_master(timeout=30)
        workload.wait_for_traffic()
    result = workload.check(checkers=replicated_checks)
    assert result.quorum_lost_ms >= 5_000, f"the ensemble's quorum was never lost: {result.summary()}"
    result.require(confirmations_without_quorum=0, lost=0)


@pytest.mark.topology(replicated())
def test_replicated_master_cut_from_zookeeper(cluster, workload, faults, replicated_checks):
    """The master loses ZooKeeper but not its slaves or clients: its session expires, the slaves elect
    another master, and the old one (which notices its session is gone) confirms nothing more."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        with faults.cut_zookeeper(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
            workload.wait_for_traffic()
        cluster.wait_standby(master)
    result = workload.check(failover_bound_ms=10_000, checkers=replicated_checks)
    assert result.lost == 0, result.summary()
    assert not result.split_brain, result.summary()
    assert result.valid, result.summary()
