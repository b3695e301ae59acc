"""More failover with a backlog (as in test_backlog_failover.py): the master of
a shared-file pair paused while its lock is stolen, and a JDBC master killed, each while hundreds of
receipted messages are queued. Nightly (scripts/nightly.sh); CI runs test_backlog_failover.py."""

import time

import pytest

from harness.topology import jdbc, shared_file

BACKLOG = 200


def assert_nothing_receipted_went_missing(result):
    assert result.lost == 0 and result.stranded == 0, result.summary()
    assert result.redelivered_after_ack == 0 and result.late_redeliveries == 0, result.summary()
    assert result.valid, result.summary()


@pytest.mark.topology(shared_file(nodes=2, lock_keepalive_ms=1000))
def test_shared_file_master_paused_while_its_lock_is_stolen_with_a_backlog(cluster, workload, faults):
    """SIGSTOP the master with a backlog queued, delete its lock file: the slave takes the store and
    must serve the whole backlog; the woken master confirms nothing more."""
    with workload.backlogged(BACKLOG):
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
    with workload.backlogged(BACKLOG):
        workload.wait_for_traffic()
        workload.wait_for_backlog(BACKLOG)
        master = cluster.master()
        with faults.kill(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
        cluster.wait_standby(master)
        workload.wait_for_traffic()
    assert_nothing_receipted_went_missing(workload.check(failover_bound_ms=30_000))
