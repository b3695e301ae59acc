"""<networkConnectors> and the inter-broker listener in activemq.xml: ActiveMQ's defaults, the
harness's rendered topologies, and a refusal naming whatever pybroker does not support."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.broker.config.activemq_xml import ConfigError, parse_config
from harness.broker.config.network import Endpoint, MulticastGroup, Reconnect, Redial
from harness.topology.model import LockSettings, Topology
from harness.topology.network import BridgeAddress, NetworkConnector, connector_uri, multicast_uri
from harness.topology.network_presets import combined, fan_out, network
from harness.topology.render import NodeConfig, NodeNetwork, render_activemq_xml


def bare(inner: str, listener: str = '<transportConnector name="openwire" uri="tcp://0.0.0.0:61616"/>') -> str:
    return f"""<broker brokerName="b">
  <persistenceAdapter><kahaDB directory="/tmp/k"/></persistenceAdapter>
  <transportConnectors><transportConnector name="stomp" uri="stomp://0.0.0.0:61613"/>{listener}</transportConnectors>
  <networkConnectors>{inner}</networkConnectors>
</broker>"""


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "activemq.xml")
    return str(info.value)


def test_a_bare_static_connector_has_activemqs_defaults() -> None:
    config = parse_config(bare('<networkConnector uri="static:(tcp://h1:61616,tcp://h2:61617)"/>'))
    [connector] = config.network.connectors
    assert connector.discovery == "static"
    assert connector.targets == (Endpoint("h1", 61616), Endpoint("h2", 61617))
    assert (connector.name, connector.duplex, connector.network_ttl, connector.prefetch_size) == ("NC", False, 1, 1000)
    assert connector.conduit_subscriptions and not connector.dynamic_only
    assert not connector.decrease_network_consumer_priority  # 5.17's default
    # SimpleDiscoveryAgent's defaults (the schedule itself: tests/unit/broker/network/test_reconnect.py).
    assert connector.reconnect == Reconnect(
        initial_delay_ms=1000,
        max_delay_ms=30000,
        exponential=True,
        multiplier=2,
        min_connect_time_ms=5000,
        max_attempts=0,
    )
    # The tcp:// listener is the bridge listener, not a STOMP one.
    assert [c.scheme for c in config.connectors] == ["stomp"]
    assert config.network.listen == Endpoint("0.0.0.0", 61616)


def test_every_attribute_and_destination_list_is_read() -> None:
    config = parse_config(
        bare(
            """<networkConnector name="to-b" uri="static:(tcp://h1:1)?initialReconnectDelay=200&amp;useExponentialBackOff=false"
                 duplex="true" networkTTL="3" conduitSubscriptions="false" dynamicOnly="true"
                 decreaseNetworkConsumerPriority="true" prefetchSize="10">
              <excludedDestinations><queue physicalName="secret.>"/></excludedDestinations>
              <dynamicallyIncludedDestinations><queue physicalName="orders.*"/></dynamicallyIncludedDestinations>
              <staticallyIncludedDestinations><queue physicalName="audit"/></staticallyIncludedDestinations>
            </networkConnector>"""
        )
    )
    [c] = config.network.connectors
    assert (c.name, c.duplex, c.network_ttl, c.conduit_subscriptions, c.dynamic_only) == ("to-b", True, 3, False, True)
    assert c.decrease_network_consumer_priority and c.prefetch_size == 10
    assert (c.excluded, c.dynamically_included, c.statically_included) == (("secret.>",), ("orders.*",), ("audit",))
    assert c.reconnect == Reconnect(initial_delay_ms=200, exponential=False)


def test_static_and_masterslave_read_every_discovery_agent_option() -> None:
    options = (
        "initialReconnectDelay=100&amp;maxReconnectDelay=2000&amp;useExponentialBackOff=true&amp;backOffMultiplier=3"
        "&amp;minConnectTime=800&amp;maxReconnectAttempts=4"
    )
    expected = Reconnect(
        initial_delay_ms=100, max_delay_ms=2000, exponential=True, multiplier=3, min_connect_time_ms=800, max_attempts=4
    )
    config = parse_config(
        bare(
            f'<networkConnector name="s" uri="static:(tcp://h:1)?{options}"/>'
            f'<networkConnector name="m" uri="masterslave:(tcp://m:1,tcp://s:2)?{options}"/>'
        )
    )
    assert [c.reconnect for c in config.network.connectors] == [expected, expected]


def test_masterslave_keeps_the_pair_in_order_and_multicast_reads_its_group() -> None:
    config = parse_config(
        bare(
            '<networkConnector name="a" uri="masterslave:(tcp://m:1,tcp://s:2)"/>'
            '<networkConnector name="b" uri="multicast://default?group=g1"/>',
            '<transportConnector name="openwire" uri="tcp://127.0.0.1:5" discoveryUri="multicast://default?group=g1"/>',
        )
    )
    pair, found = config.network.connectors
    assert pair.discovery == "masterslave" and pair.targets == (Endpoint("m", 1), Endpoint("s", 2))
    assert found.discovery == "multicast" and found.multicast == MulticastGroup(group="g1")
    assert config.network.advertise == MulticastGroup("239.255.2.3", 6155, "g1")


def test_multicast_reads_the_discovery_agents_redial_options_with_its_own_defaults() -> None:
    # MulticastDiscoveryAgent's defaults (the schedule itself: tests/unit/broker/network/test_rediscovery.py).
    [default] = parse_config(bare('<networkConnector uri="multicast://default"/>')).network.connectors
    assert default.multicast is not None
    assert default.multicast.redial == Redial(
        initial_delay_ms=5000, max_delay_ms=30000, exponential=False, multiplier=2, max_attempts=0
    )
    options = (
        "group=g&amp;initialReconnectDelay=0&amp;maxReconnectDelay=2000&amp;useExponentialBackOff=true"
        "&amp;backOffMultiplier=3&amp;maxReconnectAttempts=4"
    )
    [given] = parse_config(bare(f'<networkConnector uri="multicast://default?{options}"/>')).network.connectors
    assert given.multicast is not None and given.multicast.group == "g"
    assert given.multicast.redial == Redial(
        initial_delay_ms=0, max_delay_ms=2000, exponential=True, multiplier=3, max_attempts=4
    )


def test_replay_and_audit_come_from_the_policy_entry() -> None:
    text = bare("").replace(
        "<networkConnectors></networkConnectors>",
        """<destinationPolicy><policyMap><policyEntries>
             <policyEntry queue=">" enableAudit="false">
               <networkBridgeFilterFactory>
                 <conditionalNetworkBridgeFilterFactory replayWhenNoConsumers="true"/>
               </networkBridgeFilterFactory>
             </policyEntry>
           </policyEntries></policyMap></destinationPolicy>""",
    )
    policy = parse_config(text).policies.policy_for("/queue/q")
    assert policy.replay_when_no_consumers and not policy.enable_audit
    # pybroker replays unless told not to; a factory without the attribute is ActiveMQ's false.
    assert parse_config(bare("")).policies.policy_for("/queue/q").replay_when_no_consumers
    factory_only = text.replace('replayWhenNoConsumers="true"', "")
    assert not parse_config(factory_only).policies.policy_for("/queue/q").replay_when_no_consumers


@pytest.mark.parametrize(
    ("inner", "named"),
    [
        ('<networkConnector uri="static:(tcp://h:1)" messageTTL="2"/>', "attribute 'messageTTL'"),
        ('<networkConnector uri="static:(tcp://h:1)" bridgeTempDestinations="false"/>', "'bridgeTempDestinations'"),
        ('<networkConnector uri="static:(tcp://h:1)?discovered.trace=true"/>', "option 'discovered.trace'"),
        ('<networkConnector uri="masterslave:(tcp://h:1,tcp://g:2)?randomize=true"/>', "option 'randomize'"),
        ('<networkConnector uri="static:(tcp://h:1)?backOffMultiplier=1.5"/>', "backOffMultiplier='1.5' is not an"),
        ('<networkConnector uri="static:(tcp://h:1)?initialReconnectDelay=0"/>', "must be >= 1 (ActiveMQ would never"),
        ('<networkConnector uri="static:(tcp://h:1)?maxReconnectDelay=-5"/>', "maxReconnectDelay='-5' must be >= 1"),
        ('<networkConnector uri="static:(tcp://h:1)?minConnectTime=soon"/>', "minConnectTime='soon' is not an"),
        ('<networkConnector uri="static:(ssl://h:1)"/>', "scheme 'ssl'"),
        ('<networkConnector uri="static:(failover:(tcp://h:1))"/>', "failover: inside static:"),
        ('<networkConnector uri="zeroconf:_activemq"/>', "uri 'zeroconf:_activemq'"),
        ('<networkConnector uri="static:(tcp://h:1)" duplex="yes"/>', "duplex='yes' is not a boolean"),
        ('<networkConnector uri="static:(tcp://h:1)" networkTTL="0"/>', "networkTTL='0' must be >= 1"),
        (
            '<networkConnector uri="static:(tcp://h:1)"><excludedDestinations><topic physicalName="t"/>'
            "</excludedDestinations></networkConnector>",
            "<topic> is not supported by pybroker yet (inside <excludedDestinations>; pybroker bridges queues only",
        ),
        ('<networkConnector uri="static:(tcp://h:1)"/><networkConnector uri="static:(tcp://g:1)"/>', "named 'NC'"),
        ('<networkConnector uri="masterslave:(tcp://h:1)"/>', "masterslave: needs the brokers of a master/slave"),
        ('<networkConnector uri="multicast://default?minConnectTime=800"/>', "option 'minConnectTime'"),
        ('<networkConnector uri="multicast://default?initialReconnectDelay=-1"/>', "initialReconnectDelay='-1' must"),
        ('<networkConnector uri="multicast://default?backOffMultiplier=1.5"/>', "backOffMultiplier='1.5' is not an"),
        ('<networkConnector uri="multicast://default?useExponentialBackOff=1"/>', "useExponentialBackOff='1' is not a"),
    ],
)
def test_unsupported_settings_are_refused_by_name(inner: str, named: str) -> None:
    assert named in refusal(bare(inner))


def test_a_multicast_connector_needs_an_advertised_listener_and_the_filter_its_one_attribute() -> None:
    assert "needs a tcp:// <transportConnector discoveryUri" in refusal(
        bare('<networkConnector uri="multicast://default"/>', "")
    )
    policy = bare("").replace(
        "<networkConnectors></networkConnectors>",
        """<destinationPolicy><policyMap><policyEntries><policyEntry queue=">"><networkBridgeFilterFactory>
             <conditionalNetworkBridgeFilterFactory replayWhenNoConsumers="true" replayDelay="10"/>
           </networkBridgeFilterFactory></policyEntry></policyEntries></policyMap></destinationPolicy>""",
    )
    assert "attribute 'replayDelay' is not supported" in refusal(policy)


def _render(topology: Topology, topology_nodes: dict[str, BridgeAddress], node: str, advertise: bool = False) -> str:
    connectors = topology.connectors_of(node)
    settings = next(g.broker for g in topology.groups if node in g.nodes)
    address = topology_nodes[node]
    net = NodeNetwork(
        address.listen_host,
        address.listen_port,
        tuple((connector_uri(c, topology_nodes, "grp"), c) for c in connectors),
        multicast_uri("grp") if advertise else None,
    )
    config = NodeConfig(
        node, Path("/d") / node, Path("/d/kahadb"), "127.0.0.1", 61613, LockSettings(), settings, network=net
    )
    return render_activemq_xml(config)


def test_the_harness_topologies_render_into_what_pybroker_reads() -> None:
    topology = combined(pairs=2, replay_when_no_consumers=True, audit=False)
    addresses = {n: BridgeAddress("127.0.0.1", 7000 + i, "127.0.0.1", 7000 + i) for i, n in enumerate(topology.nodes)}
    config = parse_config(_render(topology, addresses, "amq1"))
    pair, bridge = config.network.connectors
    assert pair.discovery == "masterslave" and not pair.duplex
    assert bridge.name == "ms-broker-b" and bridge.duplex
    assert bridge.targets == (Endpoint("127.0.0.1", 7002), Endpoint("127.0.0.1", 7003))
    assert config.policies.policy_for("/queue/x").replay_when_no_consumers

    multicast = network(3, "multicast", ttl=2)
    addresses = {n: BridgeAddress("127.0.0.1", 7000 + i, "127.0.0.1", 7000 + i) for i, n in enumerate(multicast.nodes)}
    config = parse_config(_render(multicast, addresses, "amq2", advertise=True))
    [found] = config.network.connectors
    assert found.discovery == "multicast" and found.network_ttl == 2 and found.multicast is not None
    assert found.multicast.group == "grp" and config.network.advertise == found.multicast


def test_uri_options_of_a_topology_reach_the_rendered_connector() -> None:
    topology = fan_out(
        1, producer_pair=False, uri_options=(("useExponentialBackOff", "false"), ("minConnectTime", "0"))
    )
    addresses = {n: BridgeAddress("127.0.0.1", 7000 + i, "127.0.0.1", 7000 + i) for i, n in enumerate(topology.nodes)}
    text = _render(topology, addresses, "amq2")
    assert 'uri="static:(tcp://127.0.0.1:7000)?useExponentialBackOff=false&amp;minConnectTime=0"' in text
    [connector] = parse_config(text).network.connectors
    assert connector.reconnect == Reconnect(exponential=False, min_connect_time_ms=0)
    with pytest.raises(ValueError, match="uri_options are for static: and masterslave:"):
        NetworkConnector(node="amq1", discovery="multicast", uri_options=(("group", "g"),))
