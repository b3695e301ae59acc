"""Shared file system master/slave: the master freezes (SIGSTOP) but keeps its OS lock."""

import pytest

from harness.topology import shared_file


def pause_master_for_three_seconds(cluster, workload, faults):
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        with faults.pause(master):
            faults.hold_for(3)
            assert cluster.masters() == [], "a slave became master while the lock holder was only paused"
        assert cluster.wait_for_master(timeout=30).name == master.name
        workload.wait_for_traffic(receipts=50)  # the same master serves again, under load
    return workload.check(failover_bound_ms=15_000)


@pytest.mark.topology(shared_file(nodes=2))
def test_paused_master_keeps_the_lock_and_resumes(cluster, workload, faults):
    """While the master is paused nobody serves (the slave cannot get the lock); after SIGCONT the
    same master serves again. Nothing receipted is lost and there is never a second master."""
    result = pause_master_for_three_seconds(cluster, workload, faults)
    result.require(lost=0, split_brain=False, valid=None)


@pytest.mark.known_finding(
    vendor="activemq",
    strict=False,
    expects=("reordered", "redelivery-order"),
    reason="intermittent: after the paused master resumes, a message it had dispatched to the consumer's "
    "dead connection comes back after newer ones without redelivered:true (seen in 1 of about 10 runs)",
)
@pytest.mark.topology(shared_file(nodes=2))
def test_paused_master_keeps_each_producers_order(cluster, workload, faults):
    """The same pause: one consumer must still see each producer's messages in order, redeliveries
    marked as such."""
    result = pause_master_for_three_seconds(cluster, workload, faults)
    result.require(reordered=0)
