"""Shared file system master/slave: the nodes race for the lock on one kahaDB directory;
the one that holds it is master, the others wait as slaves. Here the master dies."""

import time

import pytest

from harness.topology import shared_file

TWO_AND_THREE_NODES = [
    pytest.param(shared_file(nodes=2), id="2-nodes"),
    pytest.param(shared_file(nodes=3), id="3-nodes"),
]


@pytest.mark.parametrize("topology", TWO_AND_THREE_NODES)
def test_master_killed_round_robin_under_load(cluster, workload, faults, rng):
    """kill -9 the master three times under load; each time a slave takes the lock and serves and the
    dead master comes back as a slave. Nothing receipted is lost; one consumer sees every producer in order."""
    with workload.running(producers=2, consumers=1):
        for _ in range(3):
            time.sleep(rng.uniform(1.0, 2.0))  # kill at a random moment under load (replayable with --seed)
            master = cluster.master()
            with faults.kill(master):
                cluster.wait_for_master(timeout=30, exclude=(master.name,))
            cluster.wait_standby(master)
    result = workload.check(failover_bound_ms=5_000)
    result.require(lost=0, reordered=0, split_brain=False)


@pytest.mark.topology(shared_file(nodes=2))
def test_dead_master_restarts_as_slave(cluster, workload, faults):
    """A master killed and started again finds the lock taken: it must come back as a slave."""
    with workload.running(producers=1, consumers=1):
        workload.wait_for_traffic()
        old = cluster.master()
        with faults.kill(old):
            new = cluster.wait_for_master(timeout=30, exclude=(old.name,))
        cluster.wait_standby(old)
        assert cluster.role(old.name) == "slave"
        assert cluster.master().name == new.name
        workload.wait_for_traffic()
    result = workload.check(failover_bound_ms=5_000)
    result.require(lost=0, split_brain=False)


@pytest.mark.topology(shared_file(nodes=2))
def test_master_restarted_gracefully(cluster, workload, faults):
    """A graceful stop (SIGTERM) releases the lock at once: the slave takes over, nothing is lost."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        with faults.restart(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
        cluster.wait_standby(master)
        workload.wait_for_traffic()
    result = workload.check(failover_bound_ms=5_000)
    result.require(lost=0, split_brain=False)
