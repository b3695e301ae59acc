"""Failover with a backlog: hundreds of receipted messages wait on the queue (a producer-only phase,
then one consumer slower than its producers) when the master is killed. A broker that receipts before
its store commits, forgets receipted acks, or strands what it stored has something to lose here; with
consumers that keep up it has nothing. CI runs this file; test_backlog_failover_extended.py (pause,
stolen lock, JDBC) runs nightly."""

import pytest

from harness.topology import shared_file

BACKLOG = 200  # receipted before any consumer runs; then one consumer falls behind two producers


def assert_nothing_receipted_went_missing(result):
    assert result.lost == 0 and result.stranded == 0, result.summary()
    assert result.redelivered_after_ack == 0, result.summary()
    assert result.late_redeliveries == 0, result.summary()
    assert not result.split_brain, result.summary()
    assert result.valid, result.summary()


@pytest.mark.topology(shared_file(nodes=2))
def test_shared_file_master_killed_with_a_backlog(cluster, workload, faults):
    """kill -9 the master while hundreds of receipted messages are queued and more are being receipted:
    the slave takes over with every one of them, and the acks the old master receipted stay done."""
    with workload.backlogged(BACKLOG):
        workload.wait_for_traffic()
        workload.wait_for_backlog(BACKLOG)
        master = cluster.master()
        with faults.kill(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
        cluster.wait_standby(master)
        workload.wait_for_traffic()
    assert_nothing_receipted_went_missing(workload.check(failover_bound_ms=30_000))
