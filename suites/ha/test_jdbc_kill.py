"""JDBC master/slave: every broker keeps its messages in one database, and the broker that
holds the database lock is master. All state is in the database, so when the master dies no
receipted message may be lost."""

import pytest

from harness.topology import jdbc

LOCKERS_AND_DATABASES = [
    pytest.param(jdbc(nodes=2, db=db, locker=locker), id=f"{db}-{locker}")
    for db in ("postgresql", "mariadb")
    for locker in ("database", "lease")
]


@pytest.mark.parametrize("topology", LOCKERS_AND_DATABASES)
def test_jdbc_master_killed_under_load(cluster, workload, faults):
    """kill -9 the master twice under load. The database locker's row lock dies with the master's
    connection; a lease runs out (3 s). A slave takes over, the dead master comes back as a slave,
    nothing receipted is lost, and one consumer sees every producer in order."""
    with workload.running(producers=2, consumers=1):
        for _ in range(2):
            workload.wait_for_traffic()
            master = cluster.master()
            with faults.kill(master):
                cluster.wait_for_master(timeout=30, exclude=(master.name,))
            cluster.wait_standby(master)
    result = workload.check(failover_bound_ms=10_000)
    result.require(lost=0, reordered=0, split_brain=False)
