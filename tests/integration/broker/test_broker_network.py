"""pybrokers bridged into networks (real processes): demand forwarding, networkTTL on a line, the
broker path never shown to a consumer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.client.plain import PlainStompConnection
from harness.cluster import Cluster
from harness.topology import Topology, network

pytestmark = pytest.mark.integration

QUEUE = "/queue/bridged"


def client(cluster: Cluster, node: str) -> PlainStompConnection:
    target = cluster.nodes[node]
    conn = PlainStompConnection(target.host, target.stomp_port, timeout=30.0, name=f"test-{node}")
    conn.connect("1.2")
    return conn


def test_messages_follow_the_demand_and_only_the_demand(make_cluster: Callable[[str, Topology], Cluster]) -> None:
    cluster = make_cluster("pybroker", network(2))
    producer, far = client(cluster, "amq1"), client(cluster, "amq2")
    # No consumer anywhere: the message stays where it was sent.
    producer.send(QUEUE, "kept")
    far.subscribe(QUEUE, ack="client-individual")
    # The far consumer's demand crosses the duplex bridge; what is sent now goes to it.
    producer.send(QUEUE, "forwarded")
    got = [far.receive().body for _ in range(2)]
    assert sorted(got) == [b"forwarded", b"kept"]
    assert far.no_message(1.0), "a message crossed the bridge twice"
    for conn in (producer, far):
        conn.close()


def test_forwarded_messages_carry_no_broker_path_header(make_cluster: Callable[[str, Topology], Cluster]) -> None:
    cluster = make_cluster("pybroker", network(2))
    producer, far = client(cluster, "amq1"), client(cluster, "amq2")
    far.subscribe(QUEUE)
    producer.send(QUEUE, "x", headers={"pybroker-broker-path": "amq2", "seq": "1"})
    got = far.receive()
    assert got.body == b"x" and got.headers["seq"] == "1"
    assert "pybroker-broker-path" not in got.headers
    producer.close()
    far.close()


@pytest.mark.parametrize(("ttl", "arrives"), [(1, False), (2, True)])
def test_network_ttl_decides_whether_a_line_delivers_end_to_end(
    make_cluster: Callable[[str, Topology], Cluster], ttl: int, arrives: bool
) -> None:
    cluster = make_cluster("pybroker", network(3, shape="line", ttl=ttl))
    producer, end = client(cluster, "amq1"), client(cluster, "amq3")
    end.subscribe(QUEUE)
    if arrives:
        # The demand crosses two bridges before amq1 forwards anything: send until the first arrives.
        for i in range(100):
            producer.send(QUEUE, f"m{i}")
            if not end.no_message(0.1):
                break
        else:
            pytest.fail("nothing produced on amq1 reached amq3 with networkTTL=2")
    else:
        producer.send(QUEUE, "stays")
        assert end.no_message(3.0), "a message crossed two bridges with networkTTL=1"
        start = client(cluster, "amq1")
        start.subscribe(QUEUE)
        assert start.receive().body == b"stays"
        start.close()
    producer.close()
    end.close()
