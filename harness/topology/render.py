"""Render one node of a topology as the activemq.xml both vendors read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from xml.sax.saxutils import quoteattr

from harness.topology.model import (
    BrokerSettings,
    DestinationPolicy,
    IOExceptionHandler,
    JdbcStore,
    LockSettings,
    RedeliveryLimit,
    ReplicatedStore,
    SimpleAuthentication,
)
from harness.topology.network import NetworkConnector

_BEANS_OPEN = """<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans
    http://www.springframework.org/schema/beans/spring-beans.xsd
    http://activemq.apache.org/schema/core
    http://activemq.apache.org/schema/core/activemq-core.xsd">"""


# Commons DBCP 1.4 ships with Debian's activemq (lib/optional); pybroker reads the same bean.
DATA_SOURCE_CLASS = "org.apache.commons.dbcp.BasicDataSource"
DATA_SOURCE_ID = "amq-db"


@dataclass(frozen=True)
class DataSource:
    """How one node reaches its JDBC database (through its own link proxy, so the URL differs per node)."""

    driver_class: str
    url: str
    user: str
    password: str


@dataclass(frozen=True)
class NodeNetwork:
    """A networked node's inter-broker side: its OpenWire listener and its connectors, their uris resolved.

    ``discovery_uri`` is advertised on the listener when the node takes part in multicast discovery.
    """

    listen_host: str
    listen_port: int
    connectors: tuple[tuple[str, NetworkConnector], ...] = ()
    discovery_uri: str | None = None


@dataclass(frozen=True)
class ReplicationNode:
    """How one node of a replicated group reaches ZooKeeper and its peers.

    ``bind_host``/``bind_port`` are where it serves its slaves when master (ActiveMQ's ``bind``);
    ``hostname`` is the address the others connect to (published in ZooKeeper); ``replicas`` is the
    group's size.
    """

    zk_address: str
    bind_host: str
    bind_port: int
    hostname: str
    replicas: int
    weight: int = 1


@dataclass(frozen=True)
class NodeConfig:
    """Everything the renderer needs for one node, resolved by the runtime (paths, ports).

    ``stomp_host``/``stomp_port`` are where the broker listens, which in a container is not where
    clients reach it (see Runtime.listen_address).
    """

    broker_name: str
    data_dir: Path
    store_dir: Path
    stomp_host: str
    stomp_port: int
    lock: LockSettings
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    jdbc: JdbcStore | None = None
    data_source: DataSource | None = None
    network: NodeNetwork | None = None
    replicated: ReplicatedStore | None = None
    replication: ReplicationNode | None = None

    def __post_init__(self) -> None:
        if (self.jdbc is None) != (self.data_source is None):
            raise ValueError(
                f"node {self.broker_name}: a JDBC store needs a data source, and only a JDBC store has one"
            )
        if (self.replicated is None) != (self.replication is None):
            raise ValueError(
                f"node {self.broker_name}: a replicated store needs its ZooKeeper and peer addresses, "
                "and only a replicated store has them"
            )


def _attrs(**values: object) -> str:
    return "".join(f" {k}={quoteattr(_text(v))}" for k, v in values.items() if v is not None)


def _text(value: object) -> str:
    # XML booleans are lower case; str(True) would give "True", which ActiveMQ rejects.
    return str(value).lower() if isinstance(value, bool) else str(value)


def render_activemq_xml(node: NodeConfig) -> str:
    settings = node.broker
    broker = _attrs(
        brokerName=node.broker_name,
        dataDirectory=node.data_dir,
        useJmx="false",
        persistent="true",
        schedulerSupport="true" if settings.scheduler_support else None,
    )
    uri = f"stomp://{node.stomp_host}:{node.stomp_port}"
    options = settings.connector.uri_options()
    if options:
        uri += "?" + urlencode(options)
    connector = _attrs(name="stomp", uri=uri)
    if node.jdbc is not None and node.data_source is not None:
        store = _jdbc_adapter(node.jdbc, node.lock) + _io_exception_handler(node.jdbc.io_handler)
        beans = _data_source_bean(node.data_source)
    elif node.replicated is not None and node.replication is not None:
        store, beans = _replicated_leveldb(node.store_dir, node.replicated, node.replication), ""
    else:
        store, beans = _kahadb(node), ""
    bridge_listener = ""
    if node.network is not None:
        net = node.network
        bridge_listener = (
            "\n      <transportConnector"
            + _attrs(name="openwire", uri=f"tcp://{net.listen_host}:{net.listen_port}", discoveryUri=net.discovery_uri)
            + "/>"
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
{_BEANS_OPEN}
  <broker xmlns="http://activemq.apache.org/schema/core"{broker}>{_destination_policy(settings.policies)}{_network_connectors(node.network)}{store}{_plugins(settings)}
    <transportConnectors>
      <transportConnector{connector}/>{bridge_listener}
    </transportConnectors>
  </broker>{beans}
</beans>
"""


def _network_connectors(network: NodeNetwork | None) -> str:
    if network is None or not network.connectors:
        return ""
    return (
        "\n    <networkConnectors>"
        + "".join(_network_connector(uri, c) for uri, c in network.connectors)
        + "\n    </networkConnectors>"
    )


def _network_connector(uri: str, connector: NetworkConnector) -> str:
    head = f"\n      <networkConnector{_attrs(uri=uri, **connector.attributes())}"
    lists = "".join(
        _destination_list(element, names)
        for element, names in (
            ("excludedDestinations", connector.excluded),
            ("dynamicallyIncludedDestinations", connector.dynamically_included),
            ("staticallyIncludedDestinations", connector.statically_included),
        )
        if names
    )
    if not lists:
        return head + "/>"
    return f"{head}>{lists}\n      </networkConnector>"


def _destination_list(element: str, names: tuple[str, ...]) -> str:
    queues = "".join(f"\n          <queue{_attrs(physicalName=name)}/>" for name in names)
    return f"\n        <{element}>{queues}\n        </{element}>"


def _kahadb(node: NodeConfig) -> str:
    locker = ""
    if node.lock.acquire_sleep_ms is not None:
        locker = (
            "\n        <locker><shared-file-locker"
            f"{_attrs(lockAcquireSleepInterval=node.lock.acquire_sleep_ms)}/></locker>\n      "
        )
    kahadb = _attrs(directory=node.store_dir, lockKeepAlivePeriod=node.lock.keepalive_ms)
    return f"""
    <persistenceAdapter>
      <kahaDB{kahadb}>{locker}</kahaDB>
    </persistenceAdapter>"""


def _replicated_leveldb(directory: Path, store: ReplicatedStore, replication: ReplicationNode) -> str:
    """ActiveMQ's <replicatedLevelDB> element and attribute names (5.9 to 5.16); zkSessionTimeout is a
    Timespan ("2s", "1500ms")."""
    timeout = store.zk_session_timeout_ms
    adapter = _attrs(
        directory=directory,
        replicas=replication.replicas,
        bind=f"tcp://{replication.bind_host}:{replication.bind_port}",
        hostname=replication.hostname,
        zkAddress=replication.zk_address,
        zkPath=store.zk_path,
        zkSessionTimeout=f"{timeout // 1000}s" if timeout % 1000 == 0 else f"{timeout}ms",
        sync=store.sync,
        weight=replication.weight,
    )
    return f"""
    <persistenceAdapter>
      <replicatedLevelDB{adapter}/>
    </persistenceAdapter>"""


def _jdbc_adapter(store: JdbcStore, lock: LockSettings) -> str:
    adapter = _attrs(
        dataSource=f"#{DATA_SOURCE_ID}",
        createTablesOnStartup=True,
        lockKeepAlivePeriod=lock.keepalive_ms,
    )
    # The locker element is always written: without it ActiveMQ uses the database locker.
    kind = "lease-database-locker" if store.locker == "lease" else "database-locker"
    locker = _attrs(
        lockAcquireSleepInterval=lock.acquire_sleep_ms,
        maxAllowableDiffFromDBTime=store.max_diff_from_db_time_ms,
    )
    return f"""
    <persistenceAdapter>
      <jdbcPersistenceAdapter{adapter}>
        <locker><{kind}{locker}/></locker>
      </jdbcPersistenceAdapter>
    </persistenceAdapter>"""


def _io_exception_handler(handler: IOExceptionHandler | None) -> str:
    if handler is None:
        return ""
    attrs = _attrs(stopStartConnectors=handler.stop_start_connectors, resumeCheckSleepPeriod=handler.resume_check_ms)
    return f"""
    <ioExceptionHandler>
      <leaseLockerIOExceptionHandler{attrs}/>
    </ioExceptionHandler>"""


def _data_source_bean(source: DataSource) -> str:
    properties = "".join(
        f"\n    <property{_attrs(name=name, value=value)}/>"
        for name, value in (
            ("driverClassName", source.driver_class),
            ("url", source.url),
            ("username", source.user),
            ("password", source.password),
        )
    )
    bean = _attrs(id=DATA_SOURCE_ID, **{"class": DATA_SOURCE_CLASS}, **{"destroy-method": "close"})
    return f"""
  <bean{bean}>{properties}
  </bean>"""


def _destination_policy(policies: tuple[DestinationPolicy, ...]) -> str:
    if not policies:
        return ""
    entries = "".join(_policy_entry(p) for p in policies)
    return f"""
    <destinationPolicy>
      <policyMap>
        <policyEntries>{entries}
        </policyEntries>
      </policyMap>
    </destinationPolicy>"""


def _policy_entry(policy: DestinationPolicy) -> str:
    attrs = _attrs(
        queue=policy.queue,
        topic=policy.topic,
        prioritizedMessages=policy.prioritized_messages,
        expireMessagesPeriod=policy.expire_messages_period_ms,
        enableAudit=policy.enable_audit,
    )
    children = _bridge_filter(policy)
    dead_letter = policy.dead_letter
    if dead_letter is None:
        if children:
            return f"\n          <policyEntry{attrs}>{children}\n          </policyEntry>"
        return f"\n          <policyEntry{attrs}/>"
    common = _attrs(processExpired=dead_letter.process_expired, processNonPersistent=dead_letter.process_non_persistent)
    if dead_letter.queue_prefix is None:
        strategy = f"<sharedDeadLetterStrategy{common}/>"
    else:
        prefix = _attrs(queuePrefix=dead_letter.queue_prefix, useQueueForQueueMessages=True)
        strategy = f"<individualDeadLetterStrategy{prefix}{common}/>"
    return f"""
          <policyEntry{attrs}>
            <deadLetterStrategy>
              {strategy}
            </deadLetterStrategy>{children}
          </policyEntry>"""


def _bridge_filter(policy: DestinationPolicy) -> str:
    if policy.replay_when_no_consumers is None:
        return ""
    factory = _attrs(replayWhenNoConsumers=policy.replay_when_no_consumers)
    return f"""
            <networkBridgeFilterFactory>
              <conditionalNetworkBridgeFilterFactory{factory}/>
            </networkBridgeFilterFactory>"""


def _plugins(settings: BrokerSettings) -> str:
    plugins = ""
    if settings.authentication is not None:
        plugins += _authentication(settings.authentication)
    if settings.redelivery is not None:
        plugins += _redelivery(settings.redelivery)
    if not plugins:
        return ""
    return f"\n    <plugins>{plugins}\n    </plugins>"


def _authentication(auth: SimpleAuthentication) -> str:
    users = "".join(
        f"\n          <authenticationUser{_attrs(username=u.name, password=u.password, groups=','.join(u.groups))}/>"
        for u in auth.users
    )
    plugin = _attrs(anonymousAccessAllowed=auth.anonymous_access_allowed)
    return f"""
      <simpleAuthenticationPlugin{plugin}>
        <users>{users}
        </users>
      </simpleAuthenticationPlugin>"""


def _redelivery(limit: RedeliveryLimit) -> str:
    policy = _attrs(
        maximumRedeliveries=limit.maximum_redeliveries,
        initialRedeliveryDelay=limit.initial_delay_ms,
        redeliveryDelay=limit.delay_ms,
    )
    return f"""
      <redeliveryPlugin{_attrs(fallbackToDeadLetter=True, sendToDlqIfMaxRetriesExceeded=True)}>
        <redeliveryPolicyMap>
          <redeliveryPolicyMap>
            <defaultEntry>
              <redeliveryPolicy{policy}/>
            </defaultEntry>
          </redeliveryPolicyMap>
        </redeliveryPolicyMap>
      </redeliveryPlugin>"""
