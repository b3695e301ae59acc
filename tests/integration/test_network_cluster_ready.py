"""A network cluster is handed out only once its bridges carry messages (real brokers, both vendors),
and a bridge that never comes up stops the start with an error naming it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.client.plain import PlainStompConnection
from harness.cluster import Cluster
from harness.network_ready import BridgesNotReady
from harness.runtime import LocalRuntime
from harness.topology import Topology, network
from harness.topology.model import MasterSlaveGroup
from harness.topology.network import NetworkConnector
from harness.vendors import get_vendor

pytestmark = pytest.mark.integration

ESTABLISHED = "has been established"  # both vendors log "Network connection between ... has been established"

VENDORS = [
    "pybroker",
    pytest.param(
        "activemq",
        marks=pytest.mark.skipif(
            not Path("/usr/share/activemq/bin/activemq.jar").exists(), reason="needs Debian's activemq"
        ),
    ),
]


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_network_is_up_only_once_each_bridge_carried_a_message(
    make_cluster: Callable[[str, Topology], Cluster], vendor: str
) -> None:
    """network(2, duplex=False): amq1 starts first, so its connector's first attempt to amq2 finds nothing
    listening and backs off (next attempt 1 s later). The cluster is handed out only after that bridge
    and amq2's carried their probe: both have logged it established by then."""
    cluster = make_cluster(vendor, network(2, duplex=False))
    for node in ("amq1", "amq2"):
        log = cluster.nodes[node].logs()
        assert ESTABLISHED in log, f"{node}'s bridge was not up when the cluster was handed out:\n{log[-2000:]}"
    # The probes were consumed: the first message on a queue of the scenario's own is the one it sent.
    source, target = cluster.nodes["amq1"], cluster.nodes["amq2"]
    consumer = PlainStompConnection(target.host, target.stomp_port, name="consumer")
    consumer.connect("1.2")
    consumer.subscribe("/queue/after.ready")
    producer = PlainStompConnection(source.host, source.stomp_port, name="producer")
    producer.connect("1.2")
    producer.send("/queue/after.ready", b"x", headers={"persistent": "true"})
    assert consumer.receive(timeout=30).body == b"x"
    producer.disconnect()
    consumer.disconnect()


@pytest.fixture
def unstarted(tmp_path: Path) -> Iterator[Callable[[str, Topology], Cluster]]:
    made: list[Cluster] = []

    def make(vendor: str, topology: Topology) -> Cluster:
        cluster = Cluster(topology, get_vendor(vendor), LocalRuntime(tmp_path / f"cluster{len(made)}"))
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


def test_a_bridge_that_never_comes_up_stops_the_start_naming_it(unstarted: Callable[[str, Topology], Cluster]) -> None:
    """amq1's connector gives up after one attempt (maxReconnectAttempts=1), made before amq2 listens:
    its bridge never comes up, while amq2's to amq1 does."""
    topology = Topology(
        "one bridge that gives up",
        (MasterSlaveGroup("amq1", ("amq1",)), MasterSlaveGroup("amq2", ("amq2",))),
        (
            NetworkConnector("amq1", ("amq2",), duplex=False, uri_options=(("maxReconnectAttempts", "1"),)),
            NetworkConnector("amq2", ("amq1",), duplex=False),
        ),
    )
    cluster = unstarted("pybroker", topology)
    with pytest.raises(BridgesNotReady) as raised:
        cluster.start(bridges_timeout=5.0)
    assert [str(b) for b in raised.value.missing] == ["amq1 -> amq2 (connector on amq1)"]
    assert "reconnecting to" in str(raised.value), f"the error does not carry amq1's log:\n{raised.value}"
