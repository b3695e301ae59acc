"""The lease locker: the master renews a lease in the lock table, and a slave takes over once it has
run out. What happens to a master that sleeps through its lease (a long GC pause, SIGSTOP)?"""

import pytest

from harness.topology import jdbc

DATABASES = ("postgresql", "mariadb")


@pytest.mark.known_finding(
    vendor="activemq",
    strict=False,
    expects=("lost", "stranded"),
    reason="intermittent, both databases: a message the new master receipted right after taking over is never "
    "delivered (1 lost in some runs; in others stranded, delivered only after both restarted: 2026-12-07, "
    "PostgreSQL), likely because the woken master still writes with a message-id sequence the new master "
    "also allocates from",
)
@pytest.mark.parametrize("topology", [pytest.param(jdbc(nodes=2, db=db, locker="lease"), id=db) for db in DATABASES])
def test_master_paused_longer_than_lease(cluster, workload, faults):
    """SIGSTOP the master for 6 s, twice its 3 s lease: the slave takes over. When the old master wakes
    up it must not confirm anything: its lease is gone. Never two masters, nothing receipted lost."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        old = cluster.master()
        with faults.pause(old):
            cluster.wait_for_master(timeout=30, exclude=(old.name,))
            faults.hold_for(6 - 3)
        faults.hold_for(3)
        workload.wait_for_traffic()
    result = workload.check(failover_bound_ms=20_000)
    result.require(split_brain=False, lost=0)


@pytest.mark.known_finding(
    vendor="activemq",
    expects=("split_brain",),
    reason="a lease renewed less often than it lasts: renewing every 30 s (the JDBC keep-alive default) "
    "a 10 s lease lets the slave take over while the master still serves: two masters",
)
@pytest.mark.parametrize(
    "topology",
    [
        pytest.param(
            jdbc(nodes=2, db=db, locker="lease", lock_acquire_sleep_ms=10_000, lock_keepalive_ms=30_000), id=db
        )
        for db in DATABASES
    ],
)
def test_lease_renewed_less_often_than_it_lasts(cluster, workload, faults):
    """Lease 10 s, renewal every 30 s, and the master paused for 11 s: the slave takes over when the lease
    runs out. A correct master stops confirming before its lease may lapse. Never two masters."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        old = cluster.master()
        with faults.pause(old):
            faults.hold_for(11)
        faults.hold_for(10)  # the slave polls every 10 s: it takes over within this window
        cluster.wait_for_any_master(timeout=30)
    result = workload.check(failover_bound_ms=30_000)
    result.require(split_brain=False, lost=0)
