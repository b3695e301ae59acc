"""The jdbc() preset and its activemq.xml: what both vendors read for JDBC master/slave."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.broker.config.activemq_xml import JdbcStoreConfig, parse_config
from harness.topology import IOExceptionHandler, JdbcStore, LockSettings, MasterSlaveGroup, jdbc
from harness.topology.render import DATA_SOURCE_CLASS, DataSource, NodeConfig, render_activemq_xml

SOURCE = DataSource("org.postgresql.Driver", "jdbc:postgresql://127.0.0.1:5999/activemq1", "activemq", "secret")


def _render(topology_group: MasterSlaveGroup, source: DataSource | None = SOURCE) -> str:
    return render_activemq_xml(
        NodeConfig(
            broker_name="amq1",
            data_dir=Path("/tmp/amq1/data"),
            store_dir=Path("/tmp/unused"),
            stomp_host="127.0.0.1",
            stomp_port=61613,
            lock=topology_group.lock,
            broker=topology_group.broker,
            jdbc=topology_group.jdbc,
            data_source=source,
        )
    )


def test_preset_defaults_depend_on_the_locker() -> None:
    database = jdbc(2).groups[0]
    lease = jdbc(3, db="mariadb", locker="lease").groups[0]
    assert database.store == "jdbc" and database.nodes == ("amq1", "amq2")
    assert database.lock == LockSettings(acquire_sleep_ms=1000, keepalive_ms=1000)
    assert lease.lock == LockSettings(acquire_sleep_ms=3000, keepalive_ms=1000)
    assert lease.jdbc == JdbcStore(database="mariadb", locker="lease")
    assert jdbc(2, lock_acquire_sleep_ms=None, lock_keepalive_ms=None).groups[0].lock == LockSettings()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"db": "oracle"}, "database must be 'postgresql' or 'mariadb'"),
        ({"locker": "zookeeper"}, "locker must be 'database' or 'lease'"),
        ({"max_diff_from_db_time_ms": 100}, "lease locker only"),
        ({"nodes": 0}, "nodes must be at least 1"),
    ],
)
def test_preset_refuses_bad_settings_with_a_clear_message(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jdbc(**kwargs)  # type: ignore[arg-type]


def test_a_jdbc_group_needs_its_jdbc_settings() -> None:
    with pytest.raises(ValueError, match="jdbc store needs jdbc=JdbcStore"):
        MasterSlaveGroup(name="g", nodes=("a",), store="jdbc")
    with pytest.raises(ValueError, match="data source"):
        _render(jdbc(2).groups[0], source=None)


def test_rendered_lease_configuration_names_every_setting() -> None:
    group = jdbc(
        2, locker="lease", max_diff_from_db_time_ms=250, io_handler=IOExceptionHandler(resume_check_ms=700)
    ).groups[0]
    xml = _render(group)
    assert (
        '<jdbcPersistenceAdapter dataSource="#amq-db" createTablesOnStartup="true" lockKeepAlivePeriod="1000">' in xml
    )
    assert '<lease-database-locker lockAcquireSleepInterval="3000" maxAllowableDiffFromDBTime="250"/>' in xml
    assert '<leaseLockerIOExceptionHandler stopStartConnectors="true" resumeCheckSleepPeriod="700"/>' in xml
    assert f'class="{DATA_SOURCE_CLASS}"' in xml
    assert "<kahaDB" not in xml


def test_vendor_defaults_render_no_attribute_but_keep_the_locker_element() -> None:
    xml = _render(jdbc(2, lock_acquire_sleep_ms=None, lock_keepalive_ms=None).groups[0])
    assert "<locker><database-locker/></locker>" in xml
    assert "lockKeepAlivePeriod" not in xml and "ioExceptionHandler" not in xml


@pytest.mark.parametrize("locker", ["database", "lease"])
def test_pybroker_reads_the_rendered_configuration_as_written(locker: str) -> None:
    group = jdbc(2, locker=locker, io_handler=IOExceptionHandler(stop_start_connectors=True, resume_check_ms=900))  # type: ignore[arg-type]
    config = parse_config(_render(group.groups[0]))
    store = config.store
    assert isinstance(store, JdbcStoreConfig)
    assert store.locker.kind == ("lease-database-locker" if locker == "lease" else "database-locker")
    assert store.locker.lock_acquire_sleep_interval_ms == group.groups[0].lock.acquire_sleep_ms
    assert store.lock_keep_alive_period_ms == 1000
    assert store.data_source.username == "activemq" and store.data_source.password == "secret"
    assert config.io_exception_handler is not None
    assert config.io_exception_handler.resume_check_sleep_period_ms == 900


def test_topology_description_carries_the_database_and_locker() -> None:
    described = jdbc(2, db="mariadb", locker="lease").describe()
    assert described["groups"][0]["jdbc"] == {"database": "mariadb", "locker": "lease"}
    assert described["groups"][0]["store"] == "jdbc"
