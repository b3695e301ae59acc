"""The master's database sessions are killed (pg_terminate_backend / KILL), its lock connection among
them, while the master itself keeps running: the database lock is free, and the master may not know."""

import pytest

from harness.topology import jdbc

DATABASES = ("postgresql", "mariadb")


@pytest.mark.parametrize("topology", [pytest.param(jdbc(nodes=2, db=db, locker="lease"), id=db) for db in DATABASES])
def test_master_sessions_killed_with_lease(cluster, workload, faults):
    """The lease is a row in the lock table, not a session: the master reconnects and renews it, or a
    slave takes over after the lease runs out. Never two masters, nothing receipted lost."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        faults.kill_db_sessions(cluster.master())
        faults.hold_for(4)
        cluster.wait_for_master(timeout=30)
        workload.wait_for_traffic()
    result = workload.check(failover_bound_ms=15_000)
    result.require(lost=0, split_brain=False)


@pytest.mark.known_finding(
    vendor="activemq",
    expects=("split_brain",),
    reason="database locker with the JDBC default keep-alive (30 s): the slave gets the row lock as soon as "
    "the master's session dies, and the master serves on until its next keep-alive fails: two masters",
)
@pytest.mark.parametrize(
    "topology", [pytest.param(jdbc(nodes=2, db=db, lock_keepalive_ms=None), id=db) for db in DATABASES]
)
def test_master_sessions_killed_with_database_locker_default_keepalive(cluster, workload, faults):
    """The database locker with the vendor's keep-alive. Killing the lock session hands the lock to the
    slave; the old master must stop serving before (or as) the slave starts: never two masters."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        faults.kill_db_sessions(cluster.master())
        faults.hold_for(5)
        cluster.wait_for_any_master(timeout=30)
        workload.wait_for_traffic()
    result = workload.check(failover_bound_ms=15_000)
    result.require(split_brain=False, lost=0)
