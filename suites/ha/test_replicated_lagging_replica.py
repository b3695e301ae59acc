"""Replicated master/slave: a lagging replica. One slave's stream from the master breaks while every
process stays up (its replication link, a Toxiproxy link of its own, blackholed): the master keeps a
quorum with the other slave and keeps confirming; after the heal the lagging slave attaches again and
catches up, and it is then a replica good enough to lose the master to."""

import pytest

from harness.topology import replicated


@pytest.mark.topology(replicated(replication_links=True))
def test_replicated_slave_cut_from_the_master(cluster, workload, faults, replicated_checks):
    """The lagging slave's link blackholed past the session timeout: the master serves on with the other
    slave's acknowledgements. Healed, the lagging slave catches up; then the other slave is cut and the
    master killed: the slave that caught up holds the newest writes, is elected, and nothing receipted
    is lost."""
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic()
        master = cluster.master()
        lagging, other = (name for name in cluster.nodes if name != master.name)
        with faults.blackhole(f"{lagging}->{master.name}"):
            faults.hold_for(3)  # longer than zkSessionTimeout (2 s): the master drops the silent slave
            workload.wait_for_traffic()  # confirmed with the other slave's acknowledgements alone
            assert cluster.master().name == master.name, "one slave lagging must not move the master"
            mark = cluster.log_mark(master)
        cluster.wait_for_log(master, f"Slave has now caught up: {lagging}", since=mark)
        with faults.cut_link(f"{other}->{master.name}"):
            workload.wait_for_traffic()  # the slave that caught up is the master's quorum now
            with faults.kill(master):
                new_master = cluster.wait_for_master(timeout=30, exclude=(master.name,))
        assert new_master.name == lagging, f"{lagging} held the newest writes, yet {new_master.name} was elected"
        workload.wait_for_traffic()
    workload.check(failover_bound_ms=5_000, checkers=replicated_checks).require(lost=0, split_brain=False)
