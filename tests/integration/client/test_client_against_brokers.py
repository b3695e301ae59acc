"""The failover client against real brokers of both vendors: kill -9 of the master mid-conversation."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from harness.client import ConnectionLost, Delivery, FailoverConnection
from harness.cluster import Cluster
from harness.topology import shared_file
from harness.topology.model import Topology

pytestmark = pytest.mark.integration

BOTH_VENDORS = pytest.mark.parametrize("broker_vendor", ["pybroker", "activemq"])


class Listener:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def transport_interrupted(self, endpoint: str, error: BaseException | None) -> None:
        self.events.append(("interrupted", endpoint))

    def transport_resumed(self, endpoint: str) -> None:
        self.events.append(("resumed", endpoint))


@BOTH_VENDORS
def test_sends_and_subscription_move_to_the_new_master(
    broker_vendor: str, make_cluster: Callable[[str, Topology], Cluster]
) -> None:
    cluster = make_cluster(broker_vendor, shared_file(nodes=2))
    old = cluster.master()
    listener = Listener()
    received: list[Delivery] = []
    arrived = threading.Event()

    def on_message(delivery: Delivery) -> None:
        received.append(delivery)
        conn.ack(delivery)
        if delivery.body == b"after":
            arrived.set()

    with FailoverConnection(cluster.failover_uri(), listener=listener, client_id="it") as conn:
        conn.connect(timeout=30)
        assert conn.send("/queue/it.failover", "before").endpoint == old.endpoint
        old.kill()
        new = cluster.wait_for_master(timeout=30, exclude=(old.name,))
        result = conn.send("/queue/it.failover", "after", timeout=30)
        assert result.endpoint == new.endpoint, f"receipt came from {result.endpoint}, master is {new.endpoint}"
        conn.subscribe("/queue/it.failover", on_message)
        assert arrived.wait(30), f"the message sent after failover never arrived; got {received}"
    assert [b.body for b in received] == [b"before", b"after"]
    assert ("interrupted", old.endpoint) in listener.events
    assert ("resumed", new.endpoint) in listener.events


@BOTH_VENDORS
def test_exhausted_reconnect_attempts_fail_pending_work(
    broker_vendor: str, make_cluster: Callable[[str, Topology], Cluster]
) -> None:
    cluster = make_cluster(broker_vendor, shared_file(nodes=1))
    uri = cluster.failover_uri(maxReconnectAttempts=2, initialReconnectDelay=10, maxReconnectDelay=50)
    with FailoverConnection(uri, client_id="it") as conn:
        conn.connect(timeout=30)
        cluster.master().kill()
        with pytest.raises(ConnectionLost):
            conn.send("/queue/it.lost", "nowhere to go", timeout=30)
