"""<replicatedLevelDB>: ActiveMQ's attribute names and defaults, and what pybroker refuses."""

from __future__ import annotations

import dataclasses

import pytest

from harness.broker.config.activemq_xml import ConfigError, parse_config
from harness.broker.config.replicated_leveldb import (
    ROUTES_ENV,
    ReplicatedConfigError,
    ReplicatedStoreConfig,
    parse_replicated_leveldb,
    parse_routes,
    timespan_ms,
)


def _parse(**attrs: str) -> ReplicatedStoreConfig:
    return parse_replicated_leveldb({"directory": "/data/amq1", **attrs}, [])


def test_activemq_defaults() -> None:
    config = _parse(hostname="amq1")
    assert (config.replicas, config.quorum, config.min_slave_acks) == (3, 2, 1)
    assert config.sync == "quorum_mem"
    assert config.zk_address == "127.0.0.1:2181" and config.zk_path == "/default"
    assert config.zk_session_timeout_ms == 2000
    assert (config.bind_host, config.bind_port) == ("0.0.0.0", 61619)
    assert config.weight == 1 and config.security_token == ""
    assert config.address == "amq1:61619"


def test_every_setting_is_read() -> None:
    config = _parse(
        replicas="5",
        sync="quorum_disk",
        zkAddress="zk1:2181,zk2:2181",
        zkPath="/activemq/leveldb-stores",
        zkSessionTimeout="3s",
        bind="tcp://127.0.0.1:7000",
        hostname="10.0.0.5",
        weight="4",
        securityToken="secret",
    )
    assert (config.replicas, config.quorum, config.min_slave_acks) == (5, 3, 2)
    assert config.sync == "quorum_disk" and config.zk_address == "zk1:2181,zk2:2181"
    assert config.zk_path == "/activemq/leveldb-stores" and config.zk_session_timeout_ms == 3000
    assert config.address == "10.0.0.5:7000" and config.weight == 4 and config.security_token == "secret"


def test_the_old_misspelt_session_timeout_is_read_too() -> None:
    assert _parse(zkSessionTmeout="4s").zk_session_timeout_ms == 4000


def test_timespans() -> None:
    assert [timespan_ms(t, "x") for t in ("2s", "1500ms", "1m", "750")] == [2000, 1500, 60_000, 750]
    with pytest.raises(ReplicatedConfigError, match="expected a time"):
        timespan_ms("two seconds", "zkSessionTimeout")


def test_leveldb_knobs_are_accepted_and_reported_as_ignored() -> None:
    ignored: list[str] = []
    parse_replicated_leveldb({"directory": "/d", "logSize": "1000", "indexCacheSize": "1"}, ignored)
    assert ignored == [
        "replicatedLevelDB indexCacheSize (LevelDB's own file format)",
        "replicatedLevelDB logSize (LevelDB's own file format)",
    ]


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"sync": "local_disk"}, 'sync="local_disk"> is not supported by pybroker'),
        ({"sync": "remote_mem"}, "local_\\* and remote_\\* confirm writes a quorum may not hold"),
        ({"replicas": "0"}, "must be at least 1"),
        ({"replicas": "three"}, "expected an integer"),
        ({"zkPath": "default"}, "absolute ZooKeeper path"),
        ({"zkSessionTimeout": "500ms"}, "at least 1s"),
        ({"bind": "udp://0.0.0.0:1"}, "expected tcp://host:port"),
        ({"directory": ""}, "needs a non-empty directory"),
        ({"frobnicate": "1"}, "<replicatedLevelDB frobnicate=...> is not supported by pybroker"),
    ],
)
def test_refused_settings_name_the_attribute(attrs: dict[str, str], message: str) -> None:
    with pytest.raises(ReplicatedConfigError, match=message):
        parse_replicated_leveldb({"directory": "/d", **attrs}, [])


def _activemq_xml(adapter: str) -> str:
    return f"""<beans xmlns="http://www.springframework.org/schema/beans">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="amq1">
    <persistenceAdapter>{adapter}</persistenceAdapter>
    <transportConnectors><transportConnector name="stomp" uri="stomp://127.0.0.1:61613"/></transportConnectors>
  </broker>
</beans>"""


def test_activemq_xml_with_replicated_leveldb() -> None:
    xml = _activemq_xml('<replicatedLevelDB directory="/d" replicas="3" zkAddress="zk:2181" hostname="h"/>')
    store = parse_config(xml).store
    assert isinstance(store, ReplicatedStoreConfig) and store.zk_address == "zk:2181" and store.replicas == 3


def test_activemq_xml_error_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"activemq.xml: <replicatedLevelDB sync=\"local_mem\">"):
        parse_config(_activemq_xml('<replicatedLevelDB directory="/d" sync="local_mem"/>'))


def test_replication_routes_map_a_published_address_to_the_one_dialled() -> None:
    routes = parse_routes(" 127.0.0.1:5001=127.0.0.1:6001, amq2:61619=proxy:7002 ,")
    config = dataclasses.replace(_parse(hostname="amq1"), routes=routes)
    assert config.route("127.0.0.1:5001") == "127.0.0.1:6001"
    assert config.route("amq2:61619") == "proxy:7002"
    assert config.route("amq3:61619") == "amq3:61619", "an address without a route is dialled as published"


@pytest.mark.parametrize("text", ["127.0.0.1:5001", "127.0.0.1:5001=proxy", "=127.0.0.1:1", "a:1=b:port"])
def test_malformed_replication_routes_are_refused(text: str) -> None:
    with pytest.raises(ReplicatedConfigError, match=f"{ROUTES_ENV}: expected published=dialled host:port pairs"):
        parse_routes(text)
