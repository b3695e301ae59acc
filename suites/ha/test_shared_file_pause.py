"""Seed 000, shared file system master/slave: the master freezes (SIGSTOP) but keeps its OS lock."""

import time

import pytest

from harness.topology import shared_file


@pytest.mark.topology(shared_file(nodes=2))
def test_paused_master_keeps_the_lock_and_resumes(cluster, workload, faults):
    """While the master is paused nobody serves (the slave cannot get the lock); after SIGCONT the
    same master serves again. Nothing receipted is lost and there is never a second master."""
    with workload.running(producers=2, consumers=1):
        time.sleep(1)
        master = cluster.master()
        with faults.pause(master):
            time.sleep(3)
            assert cluster.masters() == [], "a slave became master while the lock holder was only paused"
        assert cluster.wait_for_master(timeout=30).name == master.name
        time.sleep(2)
    result = workload.check(failover_bound_ms=15_000)
    assert result.lost == 0, result.summary()
    assert result.reordered == 0, result.summary()
    assert not result.split_brain, result.summary()
    assert result.valid, result.summary()
