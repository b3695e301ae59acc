import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.broker.config.activemq_xml import parse_config
from harness.topology import LockSettings, MasterSlaveGroup, Topology, shared_file
from harness.topology.model import (
    BrokerSettings,
    ConnectorLimits,
    DeadLetterQueues,
    DestinationPolicy,
    RedeliveryLimit,
    SimpleAuthentication,
    User,
)
from harness.topology.render import NodeConfig, render_activemq_xml

CORE = "{http://activemq.apache.org/schema/core}"


def render(lock: LockSettings) -> ET.Element:
    xml = render_activemq_xml(NodeConfig("amq1", Path("/d/amq1"), Path("/d/shared/kahadb"), "127.0.0.1", 61613, lock))
    return ET.fromstring(xml)


def test_shared_file_preset_names_nodes_like_seed_000():
    topology = shared_file(nodes=3)
    assert topology.nodes == ("amq1", "amq2", "amq3")
    assert topology.groups[0].name == "ms-broker-a"
    assert topology.group_of("amq2").store == "shared-file"


def test_shared_file_rejects_zero_nodes():
    with pytest.raises(ValueError, match="at least 1"):
        shared_file(nodes=0)


def test_topology_rejects_a_node_in_two_groups():
    group = MasterSlaveGroup("g", ("a", "b"))
    with pytest.raises(ValueError, match="used twice: a"):
        Topology("t", (group, MasterSlaveGroup("h", ("a",))))


def test_unknown_node_is_named_in_the_error():
    with pytest.raises(KeyError, match="no node named 'zz'"):
        shared_file(2).group_of("zz")


def test_rendered_config_carries_store_connector_and_lock_settings():
    root = render(LockSettings(acquire_sleep_ms=1000, keepalive_ms=500))
    broker = root.find(f"{CORE}broker")
    assert broker is not None and broker.get("brokerName") == "amq1"
    kahadb = broker.find(f"{CORE}persistenceAdapter/{CORE}kahaDB")
    assert kahadb is not None
    assert kahadb.get("directory") == "/d/shared/kahadb"
    assert kahadb.get("lockKeepAlivePeriod") == "500"
    locker = kahadb.find(f"{CORE}locker/{CORE}shared-file-locker")
    assert locker is not None and locker.get("lockAcquireSleepInterval") == "1000"
    connector = broker.find(f"{CORE}transportConnectors/{CORE}transportConnector")
    assert connector is not None and connector.get("uri") == "stomp://127.0.0.1:61613"


def test_vendor_defaults_leave_the_lock_attributes_out():
    kahadb = render(LockSettings()).find(f"{CORE}broker/{CORE}persistenceAdapter/{CORE}kahaDB")
    assert kahadb is not None
    assert "lockKeepAlivePeriod" not in kahadb.attrib
    assert kahadb.find(f"{CORE}locker") is None


def test_describe_is_plain_json_data():
    described = shared_file(2, lock_keepalive_ms=None).describe()
    assert described["groups"][0]["lock"] == {"lockAcquireSleepInterval": 1000, "lockKeepAlivePeriod": None}


# -- broker settings: connector limits, plugins, destination policies -------------------------------


def render_broker(settings: BrokerSettings) -> ET.Element:
    node = NodeConfig("amq1", Path("/d/amq1"), Path("/d/shared/kahadb"), "127.0.0.1", 61613, LockSettings(), settings)
    broker = ET.fromstring(render_activemq_xml(node)).find(f"{CORE}broker")
    assert broker is not None
    return broker


def test_default_broker_settings_add_nothing_to_the_config():
    plain = NodeConfig("amq1", Path("/d/amq1"), Path("/d/shared/kahadb"), "127.0.0.1", 61613, LockSettings(1000, 1000))
    with_defaults = NodeConfig(
        *[getattr(plain, f) for f in ("broker_name", "data_dir", "store_dir")],
        "127.0.0.1",
        61613,
        LockSettings(1000, 1000),
        BrokerSettings(),
    )
    assert render_activemq_xml(plain) == render_activemq_xml(with_defaults)
    broker = render_broker(BrokerSettings())
    assert [child.tag.removeprefix(CORE) for child in broker] == ["persistenceAdapter", "transportConnectors"]
    assert "schedulerSupport" not in broker.attrib
    connector = broker.find(f"{CORE}transportConnectors/{CORE}transportConnector")
    assert connector is not None and connector.get("uri") == "stomp://127.0.0.1:61613"


def test_connector_limits_become_uri_options():
    broker = render_broker(BrokerSettings(connector=ConnectorLimits(maximum_connections=3, max_frame_size=4096)))
    connector = broker.find(f"{CORE}transportConnectors/{CORE}transportConnector")
    assert connector is not None
    assert connector.get("uri") == "stomp://127.0.0.1:61613?maximumConnections=3&wireFormat.maxFrameSize=4096"


def test_pybroker_reads_the_rendered_connector_limits():
    node = NodeConfig(
        "amq1",
        Path("/d/amq1"),
        Path("/d/shared/kahadb"),
        "127.0.0.1",
        61613,
        LockSettings(),
        BrokerSettings(connector=ConnectorLimits(maximum_connections=3, max_frame_size=4096)),
    )
    [connector] = parse_config(render_activemq_xml(node)).connectors
    assert (connector.maximum_connections, connector.max_frame_size) == (3, 4096)


def test_authentication_renders_the_simple_authentication_plugin():
    users = (User("app", "s3cret&more"), User("admin", "pw", groups=("admins", "users")))
    broker = render_broker(BrokerSettings(authentication=SimpleAuthentication(users)))
    plugin = broker.find(f"{CORE}plugins/{CORE}simpleAuthenticationPlugin")
    assert plugin is not None and plugin.get("anonymousAccessAllowed") == "false"
    rendered = [
        (u.get("username"), u.get("password"), u.get("groups")) for u in plugin.iter(f"{CORE}authenticationUser")
    ]
    assert rendered == [("app", "s3cret&more", "users"), ("admin", "pw", "admins,users")]


def test_a_redelivery_limit_renders_the_plugin_and_turns_the_scheduler_on():
    broker = render_broker(BrokerSettings(redelivery=RedeliveryLimit(maximum_redeliveries=2, delay_ms=1500)))
    assert broker.get("schedulerSupport") == "true"
    plugin = broker.find(f"{CORE}plugins/{CORE}redeliveryPlugin")
    assert plugin is not None and plugin.get("sendToDlqIfMaxRetriesExceeded") == "true"
    policy = plugin.find(
        f"{CORE}redeliveryPolicyMap/{CORE}redeliveryPolicyMap/{CORE}defaultEntry/{CORE}redeliveryPolicy"
    )
    assert policy is not None
    assert policy.attrib == {"maximumRedeliveries": "2", "initialRedeliveryDelay": "1000", "redeliveryDelay": "1500"}


def test_destination_policies_render_dead_letter_strategies_priority_and_expiry():
    policies = (
        DestinationPolicy(queue=">", dead_letter=DeadLetterQueues(queue_prefix="DLQ."), prioritized_messages=True),
        DestinationPolicy(topic="news.>", dead_letter=DeadLetterQueues(), expire_messages_period_ms=500),
    )
    entries = render_broker(BrokerSettings(policies=policies)).findall(
        f"{CORE}destinationPolicy/{CORE}policyMap/{CORE}policyEntries/{CORE}policyEntry"
    )
    assert [e.attrib for e in entries] == [
        {"queue": ">", "prioritizedMessages": "true"},
        {"topic": "news.>", "expireMessagesPeriod": "500"},
    ]
    individual = entries[0].find(f"{CORE}deadLetterStrategy/{CORE}individualDeadLetterStrategy")
    assert individual is not None and individual.get("queuePrefix") == "DLQ."
    assert individual.get("useQueueForQueueMessages") == "true" and individual.get("processExpired") == "true"
    shared = entries[1].find(f"{CORE}deadLetterStrategy/{CORE}sharedDeadLetterStrategy")
    assert shared is not None and shared.get("processNonPersistent") == "false"


def test_the_preset_gives_every_node_the_same_broker_settings():
    settings = BrokerSettings(connector=ConnectorLimits(maximum_connections=5))
    topology = shared_file(nodes=2, broker=settings)
    assert topology.group_of("amq2").broker == settings
    assert topology.describe()["groups"][0]["broker"] == {"connector": {"maximumConnections": 5}}
    assert "broker" not in shared_file(nodes=2).describe()["groups"][0]


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (lambda: RedeliveryLimit(maximum_redeliveries=2, delay_ms=100), "refuses delays under 1000 ms"),
        (lambda: RedeliveryLimit(maximum_redeliveries=-1), "maximum_redeliveries must be >= 0"),
        (lambda: DestinationPolicy(queue=">", topic=">"), "exactly one of queue= or topic="),
        (lambda: ConnectorLimits(max_frame_size=0), "max_frame_size must be at least 1"),
        (lambda: SimpleAuthentication(()), "at least one User"),
    ],
)
def test_settings_a_broker_would_refuse_are_refused_early(make: object, complaint: str):
    with pytest.raises(ValueError, match=complaint):
        make()  # type: ignore[operator]
