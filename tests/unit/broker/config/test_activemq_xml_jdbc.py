"""activemq.xml with a JDBC store: the shape the harness renders, defaults, and clear refusals."""

from __future__ import annotations

import pytest

from harness.broker.config.activemq_xml import (
    DEFAULT_JDBC_LOCK_KEEP_ALIVE_PERIOD_MS,
    DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS,
    DEFAULT_RESUME_CHECK_SLEEP_PERIOD_MS,
    ConfigError,
    IOExceptionHandlerConfig,
    JdbcStoreConfig,
    parse_config,
)
from harness.broker.store.database import Dialect

RENDERED = """<?xml version="1.0" encoding="UTF-8"?>
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans x">
<broker xmlns="http://activemq.apache.org/schema/core" brokerName="amq1" dataDirectory="/tmp/d" useJmx="false"
        persistent="true">
  <persistenceAdapter>
    <jdbcPersistenceAdapter dataSource="#amq-ds" createTablesOnStartup="true" lockKeepAlivePeriod="500">
      <locker>
        LOCKER
      </locker>
    </jdbcPersistenceAdapter>
  </persistenceAdapter>
  HANDLER
  <transportConnectors><transportConnector name="stomp" uri="stomp://127.0.0.1:61613"/></transportConnectors>
</broker>
<bean id="amq-ds" class="BEAN_CLASS" destroy-method="close">
  <property name="driverClassName" value="DRIVER"/>
  <property name="url" value="URL"/>
  <property name="username" value="activemq"/>
  <property name="password" value="secret"/>
</bean>
</beans>
"""


def rendered(
    locker: str = '<database-locker lockAcquireSleepInterval="1000"/>',
    handler: str = "",
    bean_class: str = "org.apache.commons.dbcp2.BasicDataSource",
    driver: str = "org.postgresql.Driver",
    url: str = "jdbc:postgresql://127.0.0.1:5432/activemq",
) -> str:
    return (
        RENDERED.replace("LOCKER", locker)
        .replace("HANDLER", handler)
        .replace("BEAN_CLASS", bean_class)
        .replace("DRIVER", driver)
        .replace("URL", url)
    )


def jdbc(text: str) -> JdbcStoreConfig:
    store = parse_config(text).store
    assert isinstance(store, JdbcStoreConfig)
    return store


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "activemq.xml")
    return str(info.value)


def test_rendered_postgresql_database_locker() -> None:
    config = parse_config(rendered())
    store = config.store
    assert isinstance(store, JdbcStoreConfig)
    source = store.data_source
    assert (source.bean_id, source.username, source.password) == ("amq-ds", "activemq", "secret")
    assert (source.url.dialect, source.url.host, source.url.port, source.url.database) == (
        Dialect.POSTGRESQL,
        "127.0.0.1",
        5432,
        "activemq",
    )
    assert "secret" not in repr(source), "the password stays out of logs and reprs"
    assert store.create_tables_on_startup is True
    assert store.lock_keep_alive_period_ms == 500
    assert store.locker.kind == "database-locker"
    assert store.locker.lock_acquire_sleep_interval_ms == 1000
    assert config.io_exception_handler is None


@pytest.mark.parametrize(
    ("driver", "url"),
    [
        ("org.mariadb.jdbc.Driver", "jdbc:mariadb://127.0.0.1:3307/activemq"),
        ("com.mysql.jdbc.Driver", "jdbc:mysql://127.0.0.1:3307/activemq?relaxAutoCommit=true"),
        ("org.mariadb.jdbc.Driver", "jdbc:mysql://127.0.0.1:3307/activemq"),
    ],
)
def test_rendered_mariadb_and_mysql(driver: str, url: str) -> None:
    store = jdbc(rendered(driver=driver, url=url, bean_class="org.apache.commons.dbcp.BasicDataSource"))
    assert store.data_source.url.dialect is Dialect.MYSQL
    assert store.data_source.url.port == 3307


def test_rendered_lease_locker_and_handler() -> None:
    text = rendered(
        locker='<lease-database-locker lockAcquireSleepInterval="2000" maxAllowableDiffFromDBTime="250"/>',
        handler='<ioExceptionHandler><leaseLockerIOExceptionHandler stopStartConnectors="true" '
        'resumeCheckSleepPeriod="700"/></ioExceptionHandler>',
    )
    config = parse_config(text)
    store = config.store
    assert isinstance(store, JdbcStoreConfig)
    assert store.locker.kind == "lease-database-locker"
    assert store.locker.lock_acquire_sleep_interval_ms == 2000
    assert store.locker.max_allowable_diff_from_db_time_ms == 250
    assert store.locker.lease_holder_id is None
    assert config.io_exception_handler == IOExceptionHandlerConfig(True, 700)


def test_activemq_defaults_when_attributes_are_left_out() -> None:
    text = rendered(locker="<database-locker/>").replace(' createTablesOnStartup="true" lockKeepAlivePeriod="500"', "")
    store = jdbc(text)
    assert store.create_tables_on_startup is True
    assert store.lock_keep_alive_period_ms == DEFAULT_JDBC_LOCK_KEEP_ALIVE_PERIOD_MS == 30_000
    assert store.locker.lock_acquire_sleep_interval_ms == DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS == 10_000
    no_locker = text.replace("<locker>\n        <database-locker/>\n      </locker>", "")
    assert jdbc(no_locker).locker.kind == "database-locker"
    handler = parse_config(
        rendered(handler="<ioExceptionHandler><leaseLockerIOExceptionHandler/></ioExceptionHandler>")
    )
    assert handler.io_exception_handler == IOExceptionHandlerConfig(True, DEFAULT_RESUME_CHECK_SLEEP_PERIOD_MS)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"bean_class": "com.zaxxer.hikari.HikariDataSource"},
            "<bean id='amq-ds'>: class 'com.zaxxer.hikari.HikariDataSource' is not supported by pybroker "
            "(supported: org.apache.commons.dbcp2.BasicDataSource, org.apache.commons.dbcp.BasicDataSource)",
        ),
        ({"driver": "oracle.jdbc.OracleDriver"}, "'oracle.jdbc.OracleDriver' is not supported by pybroker"),
        (
            {"url": "jdbc:oracle:thin:@localhost:1521:xe"},
            "database 'oracle' is not supported by pybroker (supported: postgresql, mariadb, mysql)",
        ),
        ({"url": "jdbc:postgresql://127.0.0.1:5432/"}, "names no database"),
        ({"url": "jdbc:postgresql://127.0.0.1:5432/a?ssl=true"}, "URL option 'ssl' is not supported"),
        ({"url": "postgresql://127.0.0.1/a"}, "is not a JDBC URL"),
        (
            {"driver": "org.mariadb.jdbc.Driver"},
            "driverClassName 'org.mariadb.jdbc.Driver' does not match the URL",
        ),
        (
            {"locker": "<shared-file-locker/>"},
            "<locker> inside <jdbcPersistenceAdapter> must hold exactly one of <database-locker>, "
            "<lease-database-locker> (found <shared-file-locker>)",
        ),
        (
            {"locker": '<database-locker queryTimeout="5"/>'},
            "<database-locker> attribute 'queryTimeout' is not supported",
        ),
        (
            {"locker": '<lease-database-locker lockAcquireSleepInterval="0"/>'},
            "lockAcquireSleepInterval='0' must be >= 1",
        ),
        (
            {"handler": "<ioExceptionHandler><defaultIOExceptionHandler/></ioExceptionHandler>"},
            "<ioExceptionHandler> must hold exactly one <leaseLockerIOExceptionHandler> "
            "(found <defaultIOExceptionHandler>)",
        ),
        (
            {
                "handler": '<ioExceptionHandler><leaseLockerIOExceptionHandler ignoreAllErrors="true"/>'
                "</ioExceptionHandler>"
            },
            "<leaseLockerIOExceptionHandler> attribute 'ignoreAllErrors' is not supported",
        ),
    ],
)
def test_unsupported_jdbc_settings_are_refused(change: dict[str, str], expected: str) -> None:
    assert expected in refusal(rendered(**change))


def test_data_source_reference_must_resolve() -> None:
    message = refusal(rendered().replace('dataSource="#amq-ds"', 'dataSource="#pg-ds"'))
    assert message == (
        "activemq.xml: <jdbcPersistenceAdapter> dataSource='#pg-ds' names no <bean id='pg-ds'> "
        "(data source beans: amq-ds)"
    )
    assert 'must refer to a bean as "#bean-id"' in refusal(rendered().replace('"#amq-ds"', '"amq-ds"'))


def test_unsupported_bean_properties_and_adapter_attributes_are_refused() -> None:
    pool = rendered().replace('<property name="password" value="secret"/>', '<property name="maxTotal" value="5"/>')
    assert "<bean id='amq-ds'>: <property name=\"maxTotal\"> is not supported by pybroker yet" in refusal(pool)
    prefix = rendered().replace('createTablesOnStartup="true"', 'tablePrefix="X_"')
    assert "<jdbcPersistenceAdapter> attribute 'tablePrefix' is not supported" in refusal(prefix)
    no_lock = rendered().replace('createTablesOnStartup="true"', 'useDatabaseLock="false"')
    assert 'useDatabaseLock="false" is not supported' in refusal(no_lock)
    adapter = rendered().replace("<locker>", "<adapter><postgresql-jdbc-adapter/></adapter><locker>")
    assert "<adapter> is not supported by pybroker yet (inside <jdbcPersistenceAdapter>)" in refusal(adapter)
    missing_url = rendered().replace('<property name="url" value="jdbc:postgresql://127.0.0.1:5432/activemq"/>', "")
    assert '<bean id=\'amq-ds\'> needs <property name="url" value="..."/>' in refusal(missing_url)


def test_io_exception_handler_needs_a_jdbc_store() -> None:
    text = """<broker brokerName="b">
      <persistenceAdapter><kahaDB directory="/tmp/k"/></persistenceAdapter>
      <ioExceptionHandler><leaseLockerIOExceptionHandler/></ioExceptionHandler>
      <transportConnectors><transportConnector name="s" uri="stomp://127.0.0.1:1"/></transportConnectors>
    </broker>"""
    assert "<ioExceptionHandler> is supported by pybroker only with <jdbcPersistenceAdapter>" in refusal(text)


def test_jdbc_without_beans_root_names_the_missing_bean() -> None:
    text = """<broker brokerName="b">
      <persistenceAdapter><jdbcPersistenceAdapter dataSource="#ds"/></persistenceAdapter>
      <transportConnectors><transportConnector name="s" uri="stomp://127.0.0.1:1"/></transportConnectors>
    </broker>"""
    assert "names no <bean id='ds'> (data source beans: none)" in refusal(text)


def test_jdbc_store_goes_with_plugins_destination_policy_and_an_io_exception_handler() -> None:
    extras = """<ioExceptionHandler><leaseLockerIOExceptionHandler stopStartConnectors="true"/></ioExceptionHandler>
  <plugins>
    <simpleAuthenticationPlugin>
      <users><authenticationUser username="app" password="pw" groups="users"/></users>
    </simpleAuthenticationPlugin>
    <redeliveryPlugin fallbackToDeadLetter="true" sendToDlqIfMaxRetriesExceeded="true">
      <redeliveryPolicyMap><redeliveryPolicyMap><defaultEntry>
        <redeliveryPolicy maximumRedeliveries="2" initialRedeliveryDelay="1000" redeliveryDelay="1000"/>
      </defaultEntry></redeliveryPolicyMap></redeliveryPolicyMap>
    </redeliveryPlugin>
  </plugins>
  <destinationPolicy><policyMap><policyEntries>
    <policyEntry queue="prio.>" prioritizedMessages="true"/>
  </policyEntries></policyMap></destinationPolicy>"""
    text = rendered(handler=extras).replace('persistent="true">', 'persistent="true" schedulerSupport="true">')
    config = parse_config(text)
    assert isinstance(config.store, JdbcStoreConfig)
    assert config.io_exception_handler is not None and config.io_exception_handler.stop_start_connectors
    assert config.authentication is not None and [u.username for u in config.authentication.users] == ["app"]
    assert config.redelivery is not None
    assert config.policies.policy_for("/queue/prio.x").prioritized_messages
