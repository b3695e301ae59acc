"""Replicated master/slave: three brokers, each with its own copy of the store, elect a master
through ZooKeeper; the master confirms a write once a quorum of two holds it. "With fewer than a quorum
alive there is no master." ActiveMQ removed this store in 5.17 (the run reports it unsupported there)."""

import pytest

from harness.topology import replicated


@pytest.mark.parametrize(
    "topology", [pytest.param(replicated(sync=sync), id=sync) for sync in ("quorum_mem", "quorum_disk")]
)
def test_replicated_master_killed_under_load(cluster, workload, faults, replicated_checks):
    """kill -9 the master twice under load: the slaves saw its stream end, elect the most up-to-date
    one at once, and the killed node comes back as a slave that catches up. Nothing receipted is lost."""
    with workload.running(producers=2, consumers=1):
        for _ in range(2):
            workload.wait_for_traffic()
            master = cluster.master()
            with faults.kill(master):
                cluster.wait_for_master(timeout=30, exclude=(master.name,))
            cluster.wait_standby(master)
    workload.check(failover_bound_ms=5_000, checkers=replicated_checks).require(lost=0, split_brain=False)


@pytest.mark.topology(replicated())
def test_replicated_slave_killed_then_paused(cluster, workload, faults, replicated_checks):
    """A slave killed, then the other paused past the session timeout (a lagging replica): one slave in
    sync is a quorum, so the master serves throughout; each comes back and catches up."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        first, second = (n for n in cluster.nodes.values() if n is not master)
        with faults.kill(first):
            workload.wait_for_traffic()
        cluster.wait_standby(first)
        with faults.pause(second):
            faults.hold_for(3)  # longer than zkSessionTimeout (2 s): its session expires
            workload.wait_for_traffic()
        cluster.wait_standby(second)
        assert cluster.master().name == master.name, "losing one slave at a time must not move the master"
    workload.check(checkers=replicated_checks).require(lost=0)


@pytest.mark.topology(replicated())
def test_replicated_no_master_without_a_quorum_of_brokers(cluster, workload, faults, replicated_checks):
    """Both slaves killed for 6 s: the master must stop confirming within the session timeout plus one
    keep-alive (a checked figure), and serve again once one slave is back."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic(receipts=40)
        master = cluster.master()
        first, second = (n for n in cluster.nodes.values() if n is not master)
        with faults.kill(first), faults.kill(second):
            faults.hold_for(6)  # three times zkSessionTimeout with the master alone
        cluster.wait_for_master(timeout=30)
        workload.wait_for_traffic(receipts=50)  # a quorum again: served, under load
    result = workload.check(checkers=replicated_checks)
    assert result.quorum_lost_ms >= 5_000, f"the brokers' quorum was never lost: {result.summary()}"
    result.require(confirmations_without_quorum=0, lost=0)


@pytest.mark.topology(replicated())
def test_replicated_master_paused_longer_than_the_session(cluster, workload, faults, replicated_checks):
    """The master frozen for 4 s (twice zkSessionTimeout): the slaves elect a new master; when the old
    one wakes up it is deposed and confirms nothing more. One master at a time, nothing lost."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        with faults.pause(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
            faults.hold_for(1)  # the new master serves while the old one is still frozen
        cluster.wait_standby(master)
        workload.wait_for_traffic()
    workload.check(failover_bound_ms=10_000, checkers=replicated_checks).require(lost=0, split_brain=False)


@pytest.mark.topology(replicated())
def test_replicated_full_restart(cluster, workload, faults, replicated_checks):
    """Every broker killed at once, then all started again: they elect the one with the latest position
    and every receipted message is there."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic(receipts=40)
        amq1, amq2, amq3 = cluster.nodes.values()
        with faults.kill(amq1), faults.kill(amq2), faults.kill(amq3):
            faults.hold_for(1)  # every broker down at once
        cluster.wait_for_master(timeout=30)
        workload.wait_for_traffic(receipts=40)
    workload.check(checkers=replicated_checks).require(lost=0)
