import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.topology import LockSettings, MasterSlaveGroup, Topology, shared_file
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
