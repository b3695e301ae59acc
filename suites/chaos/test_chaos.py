"""Seeded chaos: faults drawn at random from every fault the topology supports (start, duration,
target, overlap), run under load for --chaos-duration, then every checker. The schedule is printed,
saved in the result line, replayed with the same --seed or with --chaos-schedule FILE, and shrunk
with --shrink when the run fails."""

import pytest

from harness.topology import combined, jdbc, replicated, shared_file


@pytest.mark.topology(shared_file(nodes=2))
def test_shared_file_pair_under_chaos(cluster, workload, chaos, known_losses, chaos_checks):
    """Kills, pauses, restarts and stolen locks at random on a shared-file pair: every promise holds."""
    with workload.running(producers=2, consumers=1):
        chaos.run(leave_out=known_losses)
    workload.check(checkers=chaos_checks).require()


@pytest.mark.topology(jdbc(nodes=2, db="postgresql"))
def test_jdbc_pair_under_chaos(cluster, workload, chaos, known_losses, chaos_checks):
    """Process faults, database outages, killed sessions and broken database links at random on a JDBC
    pair (database locker): every promise holds."""
    with workload.running(producers=2, consumers=1):
        chaos.run(leave_out=known_losses)
    workload.check(checkers=chaos_checks).require()


@pytest.mark.topology(replicated(nodes=3, zookeepers=3))
def test_replicated_brokers_under_chaos(cluster, workload, chaos, replicated_checks, chaos_checks):
    """Process faults on brokers and ZooKeeper nodes, brokers cut from ZooKeeper, at random: every
    promise holds, and no master confirms without a quorum."""
    with workload.running(producers=2, consumers=1):
        chaos.run()
    workload.check(checkers={**replicated_checks, **chaos_checks}).require()


@pytest.mark.known_finding(
    vendor="activemq",
    strict=False,
    expects=("redelivered_after_ack", "cross_bridge_duplicates_after_ack", "stuck"),
    reason="a message the duplex bridge forwarded and the other pair acked is delivered again by the slave "
    "that took over (suites/ha/test_network_combined.py); a blackholed bridge holds what it was handed for as "
    "long as the blackhole lasts (suites/network/test_bridge_faults.py)",
)
@pytest.mark.topology(combined(pairs=2, bridge_links=True))
def test_combined_pairs_under_chaos(cluster, workload, chaos, known_losses, chaos_checks):
    """Two shared-file pairs bridged: process faults and stolen locks in each pair, bridges cut, blackholed
    and slowed, at random; producers on one pair, consumers on both. Nothing lost, never two masters."""
    with workload.running(producers={"ms-broker-a": 2}, consumers={"ms-broker-a": 1, "ms-broker-b": 1}):
        chaos.run(leave_out=known_losses)
    workload.check(checkers=chaos_checks).require()


@pytest.mark.known_finding(
    vendor="activemq",
    strict=False,
    expects=("split_brain", "lost", "stranded"),
    reason="ActiveMQ's default lockKeepAlivePeriod=0 never re-checks the lock: when the schedule steals it, "
    "two masters serve one store, and what the old one receipted may be lost "
    "(suites/ha/test_shared_file_lock_stealing.py)",
)
@pytest.mark.topology(shared_file(nodes=2, lock_keepalive_ms=None))
def test_shared_file_pair_at_vendor_keepalive_under_chaos(cluster, workload, chaos, chaos_checks):
    """The vendor's own lock keep-alive, every fault in the mix (lock stealing included): the case to
    shrink on ActiveMQ (--shrink). pybroker checks its lock and fences: every promise holds."""
    with workload.running(producers=2, consumers=1):
        chaos.run()
    workload.check(checkers=chaos_checks).require()
