"""Shared file system master/slave, in containers: the master is cut off from the network.
The store is a file system every node mounts, not a network service: the master keeps its lock."""

import pytest

from harness.topology import shared_file


@pytest.mark.needs_fault("partition")
@pytest.mark.topology(shared_file(nodes=2))
def test_partitioned_master_keeps_the_lock_and_serves_after_healing(cluster, workload, faults):
    """While the master is unreachable nobody serves: the slave cannot take a lock the master still
    holds on the shared disk. Once the partition heals the same master serves again; nothing receipted
    is lost, every producer stays in order and there is never a second master."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        with faults.partition(master):
            faults.hold_for(3)
            assert cluster.masters() == [], "a slave became master while the lock holder was only cut off"
        assert cluster.wait_for_master(timeout=30).name == master.name
        workload.wait_for_traffic(receipts=50)  # the same master serves again, under load
    result = workload.check(failover_bound_ms=15_000)
    result.require(lost=0, reordered=0, split_brain=False)
