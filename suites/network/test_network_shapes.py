"""Multicast discovery and ActiveMQ's networkTTL: multicast discovery finds the brokers by itself, and a message
travels at most networkTTL hops, so a line of three brokers needs a TTL of 2 end to end."""

import pytest

from harness.topology import network


@pytest.mark.topology(network(3, "multicast"))
def test_multicast_network_delivers_to_a_remote_consumer(cluster, workload):
    """Every broker advertises itself on a multicast group and bridges to those it hears;
    messages produced on amq1 reach the consumer on amq3."""
    with workload.running(producers={"amq1": 2}, consumers={"amq3": 1}):
        workload.wait_for_traffic(receipts=200)
    result = workload.check(stuck_bound_ms=5_000)
    assert result.acknowledged >= 200, result.summary()
    result.require(lost=0, stuck=0, valid=None)
    assert result.bridge_crossed >= 200, result.summary()


@pytest.mark.parametrize(
    "topology",
    [
        pytest.param(network(3, shape="line", ttl=1), id="ttl-1"),
        pytest.param(network(3, shape="line", ttl=2), id="ttl-2"),
    ],
)
@pytest.mark.known_finding(
    vendor="activemq",
    expects=("stuck",),
    case="ttl-1",
    reason="networkTTL=1 (the default) lets a message and a consumer's demand cross one bridge: on the "
    "line amq1 - amq2 - amq3 nothing produced on amq1 reaches the consumer on amq3; it waits on amq1",
)
@pytest.mark.known_finding(
    vendor="pybroker",
    expects=("stuck",),
    case="ttl-1",
    reason="networkTTL=1 lets a message cross one bridge, on pybroker as on ActiveMQ: the line's nature, not a trap",
)
def test_a_line_of_brokers_delivers_end_to_end(cluster, workload):
    """Producers on amq1, the consumer on amq3, two bridges between them. The consumer's demand takes
    about 3 s to cross both bridges (ActiveMQ 5.17.2, TTL 2): the run lasts twice the stuck bound."""
    with workload.running(producers={"amq1": 1}, consumers={"amq3": 1}):
        workload.wait_for_traffic(receipts=500)
    result = workload.check(stuck_bound_ms=5_000)
    result.require(lost=0, stuck=0, valid=None)
