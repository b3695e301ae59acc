"""The master is cut off from its clients while it still holds its store and its slave still sees it
(the clients reach each broker through a link proxy: needs_fault("isolate_clients") gives the topology
one). No other broker may serve, so the clients cannot fail over: they wait, and when the link comes
back they return to the same master. Nothing it receipted before the cut may be missing afterwards."""

import pytest

from harness.topology import jdbc, shared_file

pytestmark = pytest.mark.needs_fault("isolate_clients")

GROUPS = [
    pytest.param(shared_file(nodes=2), id="shared-file"),
    *(pytest.param(jdbc(nodes=2, db=db, locker="lease"), id=f"jdbc-{db}") for db in ("postgresql", "mariadb")),
]


@pytest.mark.parametrize("topology", GROUPS)
def test_master_cut_from_its_clients_but_not_from_its_store(cluster, workload, faults):
    """The clients' link to the master goes down for 5 s (connections closed, new ones refused): the
    master stays master, the clients come back to it, nothing is lost, never two masters."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        with faults.isolate_clients(master):
            faults.hold_for(5)
            assert cluster.master().name == master.name, "a broker cut from its clients only must stay master"
        workload.wait_for_traffic(receipts=50)  # the clients are back, under load
    result = workload.check(failover_bound_ms=15_000)
    result.require(lost=0, split_brain=False)


@pytest.mark.parametrize("topology", GROUPS)
def test_clients_frames_to_the_master_vanish_one_way(cluster, workload, faults):
    """An asymmetric cut for 5 s: what the clients send to the master vanishes, what the master sends
    still arrives (heart-beats included). Receipts stop; the clients must notice and recover once the
    link heals, with nothing lost and never two masters."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        with faults.isolate_clients(master, streams="upstream"):
            faults.hold_for(5)
            assert cluster.master().name == master.name
        workload.wait_for_traffic(receipts=50)  # the clients recovered, under load
    result = workload.check(failover_bound_ms=20_000)
    result.require(lost=0, split_brain=False)
