"""A database outage: the database under a JDBC master/slave pair stops at once
(PostgreSQL: pg_ctl stop -m immediate; MariaDB: kill -9) and starts again three seconds later."""

import pytest

from harness.topology import IOExceptionHandler, jdbc

STOP_START = IOExceptionHandler(stop_start_connectors=True, resume_check_ms=1000)
DATABASES = ("postgresql", "mariadb")


@pytest.mark.parametrize(
    "topology", [pytest.param(jdbc(nodes=2, db=db, locker="lease", io_handler=STOP_START), id=db) for db in DATABASES]
)
def test_database_outage_with_stop_start_handler(cluster, workload, faults):
    """<leaseLockerIOExceptionHandler stopStartConnectors="true">: the master closes its connectors while
    the database is away (clients fail over and wait), confirms nothing it could not store, and a master
    serves again once the database is back. Nothing receipted is lost; never two masters."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        outage = faults.database_outage(down_for_s=3)
        outage.wait_healed()
        cluster.wait_for_master(timeout=30)
        workload.wait_for_traffic(receipts=50)  # served again, under load
    result = workload.check(failover_bound_ms=30_000)
    result.require(lost=0, split_brain=False)


@pytest.mark.known_finding(
    vendor="activemq",
    expects=("assertion",),
    case="postgresql",
    strict=False,
    reason="intermittent on PostgreSQL: the default IO exception handler stops the master when the "
    "database goes away, and the slave, blocked in createTablesOnStartup behind the master's row lock, fails its "
    "start and exits too: both stay down after the database returns; in other runs the slave outlives the outage "
    "and takes over (on MariaDB the slave waits in its lock loop instead and takes over)",
)
@pytest.mark.known_finding(
    vendor="activemq",
    expects=("timeout", "assertion"),
    case="mariadb",
    strict=False,
    reason="intermittent on MariaDB: the slave takes over once the database is back, but in some runs the new "
    "master then receipts nothing for a minute (0 of 20 sends), and in others both brokers exit",
)
@pytest.mark.parametrize("topology", [pytest.param(jdbc(nodes=2, db=db), id=db) for db in DATABASES])
def test_database_outage_with_default_handler(cluster, workload, faults):
    """The vendor's default handler, database locker, with the slave settled in its standby. Once the
    database is back the cluster must come back by itself: a master within 30 s, nothing receipted lost,
    never two masters."""
    master = cluster.master()
    for node in cluster.nodes.values():
        if node is not master:
            cluster.wait_standby(node)
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        outage = faults.database_outage(down_for_s=3)
        outage.wait_healed()
        came_back = cluster.comes_back(timeout=30)
        assert came_back, f"no master 30 s after the database returned (roles {cluster.roles()}): it stays down"
        workload.wait_for_traffic(receipts=50)  # served again, under load
    result = workload.check(failover_bound_ms=30_000)
    result.require(lost=0, split_brain=False)
