"""Network-of-brokers presets and their rendering into <networkConnectors> as ActiveMQ reads them."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.topology import NetworkConnector, Topology, combined, fan_out, network
from harness.topology.model import LockSettings, MasterSlaveGroup
from harness.topology.network import BridgeAddress, connector_uri
from harness.topology.render import NodeConfig, NodeNetwork, render_activemq_xml
from harness.vendors.pybroker import PyBroker

CORE = "{http://activemq.apache.org/schema/core}"
ADDRESSES = {f"amq{i}": BridgeAddress("127.0.0.1", 61000 + i, "127.0.0.1", 61000 + i) for i in range(1, 7)}


def wiring(topology: Topology) -> dict[str, list[tuple[str, tuple[str, ...], bool | None]]]:
    return {n: [(c.discovery, c.targets, c.duplex) for c in topology.connectors_of(n)] for n in topology.nodes}


def rendered(topology: Topology, node: str) -> ET.Element:
    network = NodeNetwork(
        "127.0.0.1",
        ADDRESSES[node].listen_port,
        tuple((connector_uri(c, ADDRESSES, "g1"), c) for c in topology.connectors_of(node)),
        discovery_uri="multicast://239.255.2.3:6155?group=g1"
        if any(c.discovery == "multicast" for c in topology.connectors_of(node))
        else None,
    )
    group = topology.group_of(node)
    config = NodeConfig(
        node,
        Path("/d") / node,
        Path("/d/shared") / group.name,
        "127.0.0.1",
        61613,
        LockSettings(),
        broker=group.broker,
        network=network,
    )
    broker = ET.fromstring(render_activemq_xml(config)).find(f"{CORE}broker")
    assert broker is not None
    return broker


def test_static_duplex_network_bridges_each_broker_to_those_before_it():
    assert wiring(network(3)) == {
        "amq1": [],
        "amq2": [("static", ("amq1",), True)],
        "amq3": [("static", ("amq1", "amq2"), True)],
    }


def test_non_duplex_network_configures_both_ends():
    assert wiring(network(3, duplex=False))["amq1"] == [("static", ("amq2", "amq3"), False)]


def test_a_line_bridges_neighbours_only():
    line = network(3, shape="line", ttl=1)
    assert wiring(line) == {"amq1": [], "amq2": [("static", ("amq1",), True)], "amq3": [("static", ("amq2",), True)]}
    assert all(c.network_ttl == 1 for c in line.connectors)


def test_every_network_broker_is_a_group_of_one_named_after_it():
    topology = network(3)
    assert [(g.name, g.nodes) for g in topology.groups] == [
        ("amq1", ("amq1",)),
        ("amq2", ("amq2",)),
        ("amq3", ("amq3",)),
    ]


def test_static_connector_renders_uri_and_attributes_activemq_reads():
    broker = rendered(network(3, ttl=2), "amq3")
    connector = broker.find(f"{CORE}networkConnectors/{CORE}networkConnector")
    assert connector is not None
    assert connector.get("uri") == "static:(tcp://127.0.0.1:61001,tcp://127.0.0.1:61002)"
    assert connector.get("duplex") == "true"
    assert connector.get("networkTTL") == "2"
    assert connector.get("conduitSubscriptions") is None  # None: the vendor's default, not written
    openwire = [t for t in broker.iter(f"{CORE}transportConnector") if t.get("name") == "openwire"]
    assert [t.get("uri") for t in openwire] == ["tcp://127.0.0.1:61003"]


def test_multicast_network_advertises_on_the_openwire_connector():
    broker = rendered(network(2, "multicast"), "amq1")
    connector = broker.find(f"{CORE}networkConnectors/{CORE}networkConnector")
    assert connector is not None and connector.get("uri") == "multicast://239.255.2.3:6155?group=g1"
    openwire = next(t for t in broker.iter(f"{CORE}transportConnector") if t.get("name") == "openwire")
    assert openwire.get("discoveryUri") == "multicast://239.255.2.3:6155?group=g1"


def test_replay_and_audit_render_as_seed_004_writes_them():
    broker = rendered(network(2, replay_when_no_consumers=True, audit=False), "amq2")
    entry = broker.find(f"{CORE}destinationPolicy/{CORE}policyMap/{CORE}policyEntries/{CORE}policyEntry")
    assert entry is not None and entry.get("queue") == ">" and entry.get("enableAudit") == "false"
    factory = entry.find(f"{CORE}networkBridgeFilterFactory/{CORE}conditionalNetworkBridgeFilterFactory")
    assert factory is not None and factory.get("replayWhenNoConsumers") == "true"


def test_destination_lists_render_as_queue_elements():
    connector = NetworkConnector(
        "amq2", ("amq1",), prefetch_size=1, dynamic_only=True, excluded=("secret.>",), statically_included=("orders",)
    )
    topology = Topology(
        "t", (MasterSlaveGroup("amq1", ("amq1",)), MasterSlaveGroup("amq2", ("amq2",))), connectors=(connector,)
    )
    element = rendered(topology, "amq2").find(f"{CORE}networkConnectors/{CORE}networkConnector")
    assert element is not None
    assert element.get("prefetchSize") == "1" and element.get("dynamicOnly") == "true"
    excluded = element.find(f"{CORE}excludedDestinations/{CORE}queue")
    assert excluded is not None and excluded.get("physicalName") == "secret.>"
    included = element.find(f"{CORE}staticallyIncludedDestinations/{CORE}queue")
    assert included is not None and included.get("physicalName") == "orders"


def test_combined_is_wired_exactly_like_seed_000():
    topology = combined()
    assert [(g.name, g.nodes) for g in topology.groups] == [
        ("ms-broker-a", ("amq1", "amq2")),
        ("ms-broker-b", ("amq3", "amq4")),
    ]
    assert wiring(topology)["amq1"] == [("masterslave", ("amq1", "amq2"), False), ("static", ("amq3", "amq4"), True)]
    assert wiring(topology)["amq2"] == wiring(topology)["amq1"]
    assert wiring(topology)["amq4"] == [("masterslave", ("amq3", "amq4"), False)]
    named = [c.name for c in topology.connectors_of("amq1")]
    assert named == [None, "ms-broker-b"]
    uris = [e.get("uri") for e in rendered(topology, "amq1").iter(f"{CORE}networkConnector")]
    assert uris == [
        "masterslave:(tcp://127.0.0.1:61001,tcp://127.0.0.1:61002)",
        "static:(tcp://127.0.0.1:61003,tcp://127.0.0.1:61004)",
    ]


def test_combined_on_jdbc_gives_each_pair_its_own_database_group():
    topology = combined(store="jdbc")
    assert [g.store for g in topology.groups] == ["jdbc", "jdbc"]


def test_fan_out_consumer_brokers_bridge_to_the_producer_pair_with_failover():
    topology = fan_out(consumer_brokers=2)
    assert [(g.name, g.nodes) for g in topology.groups] == [
        ("producer", ("amq1", "amq2")),
        ("amq3", ("amq3",)),
        ("amq4", ("amq4",)),
    ]
    assert wiring(topology)["amq3"] == [("masterslave", ("amq1", "amq2"), True)]
    assert wiring(topology)["amq1"] == []
    assert wiring(fan_out(1, producer_pair=False))["amq2"] == [("static", ("amq1",), True)]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: network(1), "at least 2 brokers"),
        (lambda: network(3, "multicast", shape="line"), "shape must be 'mesh'"),
        (lambda: combined(pairs=1), "at least 2 master/slave pairs"),
        (lambda: fan_out(0), "at least 1 consumer broker"),
        (lambda: NetworkConnector("a", ("b",), discovery="masterslave"), "exactly two targets"),
        (lambda: NetworkConnector("a", ("b",), discovery="multicast"), "name none"),
        (lambda: NetworkConnector("a", ("b",), network_ttl=0), "network_ttl must be at least 1"),
        (
            lambda: Topology("t", (MasterSlaveGroup("a", ("a",)),), (NetworkConnector("a", ("zz",)),)),
            "unknown nodes: zz",
        ),
    ],
)
def test_bad_network_settings_are_refused_with_the_reason(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_topology_description_lists_its_connectors():
    described = network(2, ttl=3).describe()
    assert described["networkConnectors"] == [
        {"node": "amq2", "discovery": "static", "targets": ["amq1"], "duplex": True, "networkTTL": 3}
    ]


def test_pybroker_runs_every_network_topology():
    for topology in (network(2), network(3, "multicast"), combined(2), fan_out(2)):
        assert PyBroker().unsupported_reason(topology) is None


def test_bridge_links_need_static_network_connectors():
    with pytest.raises(ValueError, match="bridge_links needs network connectors"):
        Topology("t", (MasterSlaveGroup("a", ("a",)),), bridge_links=True)
    with pytest.raises(ValueError, match="no bridge links"):
        network(2, "multicast", bridge_links=True)
    assert fan_out(2, bridge_links=True).describe()["bridge_links"] is True


def test_a_bridge_listener_is_reached_from_outside_at_its_published_address():
    # A container's listener: peers use its alias, the harness's link proxies its loopback port.
    in_container = BridgeAddress("0.0.0.0", 61616, "amq2", 61616, "127.0.0.1", 40123)
    assert in_container.peer_uri == "tcp://amq2:61616"
    assert in_container.outside == ("127.0.0.1", 40123)
    assert ADDRESSES["amq1"].outside == ("127.0.0.1", 61001)  # a local process: where its peers reach it
