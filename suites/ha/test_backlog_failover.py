"""Failover with a backlog: hundreds of receipted messages wait on the queue (a producer-only phase,
then one consumer slower than its producers) when the master is killed, paused or loses its lock. A
broker that receipts before its store commits, forgets receipted acks, or strands what it stored has
something to lose here; with consumers that keep up it has nothing."""

import time

import pytest

from harness.topology import jdbc, shared_file

BACKLOG = 200  # receipted before any consumer runs
SLOW = 0.01  # s of work per delivery (plus its ACK's round trip): the consumer falls behind
RATE = 50.0  # sends per second per producer while the consumer runs


def assert_nothing_receipted_went_missing(result):
    assert result.lost == 0 and result.stranded == 0, result.summary()
    assert result.redelivered_after_ack == 0, result.summary()
    assert result.late_redeliveries == 0, result.summary()
    assert not result.split_brain, result.summary()
    assert result.valid, result.summary()


def backlogged(workload):
    """A producer-only phase, then a slow consumer and fast producers: the queue never empties."""
    workload.produce(BACKLOG // 2, producers=2, rate_per_producer=0)
    return workload.running(producers=2, consumers=1, processing_delay_s=SLOW, rate_per_producer=RATE)


@pytest.mark.topology(shared_file(nodes=2))
def test_shared_file_master_killed_with_a_backlog(cluster, workload, faults):
    """kill -9 the master while hundreds of receipted messages are queued and more are being receipted:
    the slave takes over with every one of them, and the acks the old master receipted stay done."""
    with backlogged(workload):
        workload.wait_for_traffic()
        workload.wait_for_backlog(BACKLOG)
        master = cluster.master()
        with faults.kill(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
        cluster.wait_standby(master)
        workload.wait_for_traffic()
    assert_nothing_receipted_went_missing(workload.check(failover_bound_ms=15_000))


@pytest.mark.topology(shared_file(nodes=2, lock_keepalive_ms=1000))
def test_shared_file_master_paused_while_its_lock_is_stolen_with_a_backlog(cluster, workload, faults):
    """SIGSTOP the master with a backlog queued, delete its lock file: the slave takes the store and
    must serve the whole backlog; the woken master confirms nothing more."""
    with backlogged(workload):
        workload.wait_for_traffic()
        workload.wait_for_backlog(BACKLOG)
        old = cluster.master()
        with faults.pause(old):
            faults.steal_lock(how="delete")
            cluster.wait_for_master(timeout=30, exclude=(old.name,))
        workload.wait_for_traffic()
        time.sleep(2)  # the woken master's next keep-alive checks find the lock gone
    assert_nothing_receipted_went_missing(workload.check(failover_bound_ms=20_000))


@pytest.mark.parametrize(
    "topology", [pytest.param(jdbc(nodes=2, db="postgresql", locker="database"), id="postgresql-database")]
)
def test_jdbc_master_killed_with_a_backlog(cluster, workload, faults):
    """The same kill on a JDBC pair: the backlog is in the database, the new master serves all of it."""
    with backlogged(workload):
        workload.wait_for_traffic()
        workload.wait_for_backlog(BACKLOG)
        master = cluster.master()
        with faults.kill(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
        cluster.wait_standby(master)
        workload.wait_for_traffic()
    assert_nothing_receipted_went_missing(workload.check(failover_bound_ms=15_000))


@pytest.mark.parametrize(
    "topology", [pytest.param(jdbc(nodes=2, db="postgresql", locker="lease"), id="postgresql-lease")]
)
def test_jdbc_master_paused_past_its_lease_with_a_backlog(cluster, workload, faults):
    """SIGSTOP the master for twice its 3 s lease with a backlog queued: the slave takes over and
    serves the backlog; what is missing at the end is told apart as lost or stranded."""
    with backlogged(workload):
        workload.wait_for_traffic()
        workload.wait_for_backlog(BACKLOG)
        old = cluster.master()
        with faults.pause(old):
            cluster.wait_for_master(timeout=30, exclude=(old.name,))
            time.sleep(6 - 3)
        workload.wait_for_traffic()
        time.sleep(2)
    assert_nothing_receipted_went_missing(workload.check(failover_bound_ms=20_000))
