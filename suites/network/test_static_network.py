"""Brokers bridged by static network connectors. A message goes where the demand
is, hop by hop; what was forwarded to a broker stays there unless the queue replays it."""

import pytest

from harness.topology import network

# A message queued behind the slow consumer on amq2 and then replayed waits about 2 s in all (measured
# on ActiveMQ 5.17.2); one left there waits for the rest of the run, 6 s and more.
STUCK_BOUND_MS = 5_000


@pytest.mark.topology(network(3))
def test_messages_cross_the_network_to_a_remote_consumer(cluster, workload):
    """Producers on amq1, the only consumer on amq3: everything receipted on amq1 reaches amq3 over
    the duplex bridge, nothing waits while the consumer is there."""
    with workload.running(producers={"amq1": 2}, consumers={"amq3": 1}):
        workload.wait_for_traffic(receipts=200)
    result = workload.check(stuck_bound_ms=5_000)
    assert result.acknowledged >= 200, result.summary()
    assert result.bridge_crossed >= 200, result.summary()
    result.require(lost=0, stuck=0)


@pytest.mark.parametrize(
    "topology",
    [
        pytest.param(network(2), id="no-replay"),
        pytest.param(network(2, replay_when_no_consumers=True), id="replay-default-audit"),
        pytest.param(network(2, replay_when_no_consumers=True, audit=False), id="replay-no-audit"),
    ],
)
@pytest.mark.known_finding(
    vendor="activemq",
    expects=("stuck",),
    case="no-replay",
    reason="without replayWhenNoConsumers, messages a bridge forwarded to amq2 never go back to amq1 "
    "(amq1 is in their broker path) after amq2's consumer moved there: stuck on amq2 until a consumer returns",
)
def test_consumer_moving_away_leaves_no_message_behind(cluster, workload):
    """A slow consumer on amq2 lets the bridge forward a backlog there, then it moves to amq1.
    The promise users expect: the backlog follows the demand to amq1. It does with
    conditionalNetworkBridgeFilterFactory replayWhenNoConsumers, with the default audit too (the trap
    reported on older 5.x releases: replayed messages taken for duplicates, stuck until a restart)."""
    with workload.running(producers={"amq1": 1}, consumers={"amq2": 1}, processing_delay_s=0.2, rate_per_producer=100):
        workload.wait_for_traffic(receipts=150)
        workload.move_consumers("amq2", "amq1", processing_delay_s=0)
        workload.wait_for_traffic(receipts=600)
    result = workload.check(stuck_bound_ms=STUCK_BOUND_MS)
    result.require(lost=0, stuck=0)
