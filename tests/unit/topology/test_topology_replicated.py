"""The replicated() preset and its <replicatedLevelDB> element: what both vendors are given."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.topology import MasterSlaveGroup, ReplicatedStore, replicated
from harness.topology.render import NodeConfig, ReplicationNode, render_activemq_xml
from harness.vendors import get_vendor

CORE = "{http://activemq.apache.org/schema/core}"
PEER = ReplicationNode("127.0.0.1:2181,127.0.0.1:2182", "127.0.0.1", 61619, "127.0.0.1", replicas=3, weight=2)


def _adapter(group: MasterSlaveGroup, replication: ReplicationNode | None = PEER) -> ET.Element:
    xml = render_activemq_xml(
        NodeConfig(
            broker_name="amq1",
            data_dir=Path("/tmp/amq1/data"),
            store_dir=Path("/tmp/amq1/leveldb"),
            stomp_host="127.0.0.1",
            stomp_port=61613,
            lock=group.lock,
            replicated=group.replicated,
            replication=replication,
        )
    )
    found = ET.fromstring(xml).find(f"{CORE}broker/{CORE}persistenceAdapter/{CORE}replicatedLevelDB")
    assert found is not None, xml
    return found


def test_preset_is_seed_001s_three_brokers_on_three_zookeepers() -> None:
    group = replicated().groups[0]
    assert group.store == "replicated" and group.nodes == ("amq1", "amq2", "amq3")
    assert group.replicated == ReplicatedStore(zookeepers=3, sync="quorum_mem", zk_session_timeout_ms=2000)


def test_rendered_with_activemqs_attribute_names() -> None:
    attrs = _adapter(replicated(sync="quorum_disk").groups[0]).attrib
    assert attrs == {
        "directory": "/tmp/amq1/leveldb",
        "replicas": "3",
        "bind": "tcp://127.0.0.1:61619",
        "hostname": "127.0.0.1",
        "zkAddress": "127.0.0.1:2181,127.0.0.1:2182",
        "zkPath": "/default",
        "zkSessionTimeout": "2s",
        "sync": "quorum_disk",
        "weight": "2",
    }


def test_session_timeout_is_a_timespan() -> None:
    assert _adapter(replicated(zk_session_timeout_ms=1500).groups[0]).attrib["zkSessionTimeout"] == "1500ms"


def test_weights_are_per_node_and_default_to_one() -> None:
    store = replicated(3, weights=(5,)).groups[0].replicated
    assert store is not None and [store.weight(i) for i in range(3)] == [5, 1, 1]
    with pytest.raises(ValueError, match="2 weights for 1 nodes"):
        replicated(1, weights=(1, 2))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sync": "local_mem"}, "sync must be one of quorum_mem, quorum_disk"),
        ({"zookeepers": 0}, "zookeepers must be at least 1"),
        ({"zk_session_timeout_ms": 10}, "zk_session_timeout_ms must be at least 1000"),
        ({"zk_path": "default"}, "absolute ZooKeeper path"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplicatedStore(**settings)  # type: ignore[arg-type]


def test_a_replicated_node_needs_its_addresses() -> None:
    with pytest.raises(ValueError, match="needs its ZooKeeper and peer addresses"):
        _adapter(replicated().groups[0], replication=None)


def test_group_and_store_must_agree() -> None:
    with pytest.raises(ValueError, match="replicated store needs replicated=ReplicatedStore"):
        MasterSlaveGroup(name="g", nodes=("a",), store="replicated")


def test_activemq_517_reports_it_unsupported_with_the_reason() -> None:
    reason = get_vendor("activemq").unsupported_reason(replicated())
    assert reason is not None and "replicatedLevelDB" in reason and "5.17.0" in reason, reason


def test_described_in_results() -> None:
    described = replicated(zookeepers=1).describe()["groups"][0]
    assert described["replicated"]["zookeepers"] == 1 and described["replicated"]["sync"] == "quorum_mem"


def test_pybroker_reads_back_what_is_rendered() -> None:
    from harness.broker.config.activemq_xml import parse_config
    from harness.broker.config.replicated_leveldb import ReplicatedStoreConfig

    group = replicated(sync="quorum_disk", zk_session_timeout_ms=3000).groups[0]
    xml = render_activemq_xml(
        NodeConfig(
            broker_name="amq1",
            data_dir=Path("/tmp/amq1/data"),
            store_dir=Path("/tmp/amq1/leveldb"),
            stomp_host="127.0.0.1",
            stomp_port=61613,
            lock=group.lock,
            replicated=group.replicated,
            replication=PEER,
        )
    )
    store = parse_config(xml).store
    assert store == ReplicatedStoreConfig(
        directory=Path("/tmp/amq1/leveldb"),
        replicas=3,
        sync="quorum_disk",
        zk_address=PEER.zk_address,
        zk_path="/default",
        zk_session_timeout_ms=3000,
        bind_host="127.0.0.1",
        bind_port=61619,
        hostname="127.0.0.1",
        weight=2,
    )
