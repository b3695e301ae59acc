"""Links that misbehave without breaking: throttled, sliced into small pieces, reset soon after each
connection carries bytes, or closed after a few kilobytes. On a shared-file pair the link is the
clients' link to the master; on a JDBC pair, the master's link to its database. Each lasts 5 s under
load; afterwards the cluster serves, nothing receipted is lost and there is never more than one master."""

import pytest

from harness.topology import jdbc, shared_file

GROUPS = [
    pytest.param(shared_file(nodes=2, client_links=True), id="shared-file-clients"),
    *(pytest.param(jdbc(nodes=2, db=db, locker="lease"), id=f"jdbc-{db}-database") for db in ("postgresql", "mariadb")),
]

TOXICS = {
    "bandwidth": lambda faults, link: faults.bandwidth(link, rate_kb_s=2),
    "slicer": lambda faults, link: faults.slicer(link, average_size=16, size_variation=8, delay_us=200),
    "reset_peer": lambda faults, link: faults.reset_peer(link, after_ms=500),
    "limit_data": lambda faults, link: faults.limit_data(link, limit_bytes=20_000),
}


@pytest.mark.known_finding(
    vendor="activemq",
    expects=("stranded", "split_brain"),
    case="database-reset_peer",
    strict=False,
    reason="lease locker, every database connection of the master reset 0.5 s after bytes flow, for 5 s: in 2 of 4 "
    "runs (2026-12-07, PostgreSQL and MariaDB) receipted messages were stranded (3 and 7, delivered only after a "
    "restart) and both brokers accepted clients at once",
)
@pytest.mark.parametrize("toxic", TOXICS)
@pytest.mark.parametrize("topology", GROUPS)
def test_master_link_misbehaves_for_a_while(cluster, workload, faults, toxic):
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        link = cluster.link(master.name) if cluster.links else cluster.client_link(master.name)
        with TOXICS[toxic](faults, link):
            faults.hold_for(5)
        cluster.wait_for_any_master(timeout=60)
        workload.wait_for_traffic(receipts=50)  # served again once the link behaves, under load
    result = workload.check(failover_bound_ms=30_000)
    result.require(lost=0, split_brain=False)
