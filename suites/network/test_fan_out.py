"""One producer-facing master/slave pair fanning out to consumer-facing brokers, whose
network connectors reach the pair with failover (masterslave:)."""

import pytest

from harness.topology import fan_out


@pytest.mark.topology(fan_out(consumer_brokers=2))
def test_fan_out_feeds_every_consumer_broker(cluster, workload):
    """Producers on the pair, one consumer on each consumer broker: both get a share, nothing waits."""
    with workload.running(producers={"producer": 2}, consumers={"amq3": 1, "amq4": 1}):
        workload.wait_for_traffic(receipts=200)
    result = workload.check(stuck_bound_ms=5_000, min_share=0.2)
    result.require(lost=0, stuck=0)


@pytest.mark.topology(fan_out(consumer_brokers=2))
@pytest.mark.known_finding(
    vendor="activemq",
    strict=False,
    expects=("redelivered_after_ack", "cross_bridge_duplicates_after_ack"),
    reason="a message the bridge forwarded to a consumer broker, consumed and acked there, is delivered again "
    "by the new producer-side master when the old one died before the bridge's ack of it was stored "
    "(2 messages in one run, redelivered after a receipted ack; ActiveMQ documents the bridge duplicate)",
)
def test_producer_master_killed_under_the_bridges(cluster, workload, faults):
    """kill -9 the producer-side master: amq2 takes over the shared store, the producers fail over to
    it, and the consumer brokers' masterslave: connectors reconnect to it. Nothing receipted is lost
    and no consumer broker starves for good."""
    with workload.running(producers={"producer": 2}, consumers={"amq3": 1, "amq4": 1}):
        workload.wait_for_traffic(receipts=100)
        master = cluster.master("producer")
        with faults.kill(master):
            cluster.wait_for_master("producer", timeout=30, exclude=(master.name,))
            workload.wait_for_traffic(receipts=100)
    result = workload.check(stuck_bound_ms=15_000, min_share=0.2)
    result.require(lost=0, stuck=0)
