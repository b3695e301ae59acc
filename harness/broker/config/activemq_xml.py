"""activemq.xml -> BrokerConfig: the subset of ActiveMQ Classic's configuration that pybroker supports.

Anything outside that subset is refused with a ConfigError naming the file, the element and the
reason: silently ignoring a clustering option would make a test pass for the wrong reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from harness.broker.config.network import (
    CONNECTOR_ATTRIBUTES,
    DESTINATION_LISTS,
    Endpoint,
    MulticastGroup,
    NetworkConfig,
    NetworkConfigError,
    NetworkConnectorConfig,
    parse_connector_uri,
    parse_multicast,
)
from harness.broker.config.replicated_leveldb import (
    ReplicatedConfigError,
    ReplicatedStoreConfig,
    parse_replicated_leveldb,
)
from harness.broker.core.auth import Authenticator, User
from harness.broker.core.policy import (
    DeadLetterKind,
    DeadLetterStrategy,
    DestinationKind,
    DestinationPattern,
    GroupMapKind,
    GroupMapSettings,
    PatternMap,
    PolicyEntry,
    PolicyMap,
    RedeliveryPolicy,
    RedeliverySettings,
)
from harness.broker.stomp.frames import DEFAULT_MAX_FRAME_SIZE
from harness.broker.store.database import DRIVER_CLASSES, JdbcDataSource, JdbcUrlError, parse_jdbc_url

# ActiveMQ defaults, except the keep-alive which is on by default here (0 lets a stolen lock go unseen).
DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS = 10_000
DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS = 1_000
DEFAULT_MAXIMUM_CONNECTIONS = 1000
# ActiveMQ's JDBC defaults (JDBCPersistenceAdapter, DefaultIOExceptionHandler).
DEFAULT_JDBC_LOCK_KEEP_ALIVE_PERIOD_MS = 30_000
DEFAULT_RESUME_CHECK_SLEEP_PERIOD_MS = 5_000
DATA_SOURCE_CLASSES = ("org.apache.commons.dbcp2.BasicDataSource", "org.apache.commons.dbcp.BasicDataSource")

# kahaDB tuning knobs that only matter to kahaDB's own index/journal format: accepted and ignored.
IGNORED_KAHADB_ATTRIBUTES = frozenset(
    {"journalMaxFileLength", "checkpointInterval", "cleanupInterval", "indexCacheSize", "indexWriteBatchSize"}
)

_BROKER_ATTRIBUTES = frozenset({"brokerName", "dataDirectory", "useJmx", "persistent", "schedulerSupport", "start"})
_JDBC_ATTRIBUTES = frozenset({"dataSource", "createTablesOnStartup", "lockKeepAlivePeriod", "useDatabaseLock"})
_JDBC_LOCKER_ATTRIBUTES = {
    "database-locker": frozenset({"lockAcquireSleepInterval"}),
    "lease-database-locker": frozenset({"lockAcquireSleepInterval", "maxAllowableDiffFromDBTime", "leaseHolderId"}),
}
_IO_HANDLER_ATTRIBUTES = frozenset({"stopStartConnectors", "resumeCheckSleepPeriod"})
_BEAN_ATTRIBUTES = frozenset({"id", "class", "destroy-method"})
_DATA_SOURCE_PROPERTIES = frozenset({"driverClassName", "url", "username", "password"})
_KAHADB_ATTRIBUTES = frozenset({"directory", "lockKeepAlivePeriod"}) | IGNORED_KAHADB_ATTRIBUTES
_LOCKER_ATTRIBUTES = frozenset({"lockAcquireSleepInterval", "failIfLocked"})
_CONNECTOR_SCHEMES = frozenset({"stomp", "stomp+nio", "tcp"})
_CONNECTOR_OPTIONS = frozenset({"maximumConnections", "wireFormat.maxFrameSize"})
_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_DESTINATION_ATTRIBUTES = frozenset({"queue", "topic", "tempQueue", "tempTopic"})
_POLICY_ENTRY_ATTRIBUTES = _DESTINATION_ATTRIBUTES | frozenset(
    {
        "prioritizedMessages",
        "useConsumerPriority",
        "allConsumersExclusiveByDefault",
        "expireMessagesPeriod",
        "queuePrefetch",
        "topicPrefetch",
        "durableTopicPrefetch",
        "queueBrowserPrefetch",
        "messageGroupMapFactoryType",
        "enableAudit",
    }
)
_REDELIVERY_POLICY_ATTRIBUTES = _DESTINATION_ATTRIBUTES | frozenset(
    {
        "maximumRedeliveries",
        "initialRedeliveryDelay",
        "redeliveryDelay",
        "useExponentialBackOff",
        "backOffMultiplier",
        "maximumRedeliveryDelay",
    }
)
_DEAD_LETTER_ATTRIBUTES = {
    DeadLetterKind.SHARED: frozenset({"processExpired", "processNonPersistent", "expiration", "enableAudit"}),
    DeadLetterKind.INDIVIDUAL: frozenset(
        {
            "processExpired",
            "processNonPersistent",
            "expiration",
            "enableAudit",
            "queuePrefix",
            "topicPrefix",
            "queueSuffix",
            "topicSuffix",
            "useQueueForQueueMessages",
            "useQueueForTopicMessages",
            "destinationPerDurableSubscriber",
        }
    ),
    DeadLetterKind.DISCARDING: frozenset(),
}
_GROUP_FACTORY_TYPES = {
    "cached": GroupMapKind.CACHED,
    "simple": GroupMapKind.SIMPLE,
    "bucket": GroupMapKind.HASH_BUCKET,
}
# ActiveMQ's RedeliveryPlugin refuses shorter delays (the poison ack must complete before the resend).
MIN_REDELIVERY_DELAY_MS = 1000


class ConfigError(Exception):
    """The configuration cannot be used by pybroker; the message says where and why."""


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    scheme: str
    host: str
    port: int
    maximum_connections: int = DEFAULT_MAXIMUM_CONNECTIONS
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    # tcp:// only: the listener accepting other brokers' bridges, advertised on this multicast group
    discovery: MulticastGroup | None = None

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class StoreConfig:
    directory: Path
    lock_keep_alive_period_ms: int = DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS
    lock_acquire_sleep_interval_ms: int = DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS
    fail_if_locked: bool = False


@dataclass(frozen=True)
class JdbcLockerConfig:
    kind: Literal["database-locker", "lease-database-locker"] = "database-locker"
    lock_acquire_sleep_interval_ms: int = DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS  # the lease's length, for leases
    max_allowable_diff_from_db_time_ms: int = 0
    lease_holder_id: str | None = None  # default: the broker name


@dataclass(frozen=True)
class JdbcStoreConfig:
    data_source: JdbcDataSource
    create_tables_on_startup: bool = True
    lock_keep_alive_period_ms: int = DEFAULT_JDBC_LOCK_KEEP_ALIVE_PERIOD_MS
    locker: JdbcLockerConfig = field(default_factory=JdbcLockerConfig)


@dataclass(frozen=True)
class IOExceptionHandlerConfig:
    """<leaseLockerIOExceptionHandler>: what a JDBC master does when the database fails under it."""

    stop_start_connectors: bool = True
    resume_check_sleep_period_ms: int = DEFAULT_RESUME_CHECK_SLEEP_PERIOD_MS


@dataclass(frozen=True)
class BrokerConfig:
    broker_name: str
    connectors: tuple[ConnectorConfig, ...]
    # None when persistent="false": memory only, no lock
    store: StoreConfig | JdbcStoreConfig | ReplicatedStoreConfig | None
    data_directory: Path | None = None
    use_jmx: bool = False
    scheduler_support: bool = False
    policies: PolicyMap = field(default_factory=PolicyMap)
    redelivery: RedeliverySettings | None = None  # <redeliveryPlugin>
    authentication: Authenticator | None = None  # <simpleAuthenticationPlugin>
    source: str = "activemq.xml"
    ignored: tuple[str, ...] = field(default=())  # accepted-but-ignored settings, for the startup log
    io_exception_handler: IOExceptionHandlerConfig | None = None
    # <networkConnectors> and the tcp:// listener that accepts other brokers' bridges
    network: NetworkConfig = field(default_factory=NetworkConfig)


def load_config(path: str | Path) -> BrokerConfig:
    """Read and validate an activemq.xml file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file: {exc.strerror}") from None
    return parse_config(text, source)


def parse_config(text: str, source: str = "activemq.xml") -> BrokerConfig:
    """Validate the text of an activemq.xml; ``source`` names it in error messages."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError(f"{source}: not well-formed XML: {exc}") from None
    return _Parser(source).parse(root)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.ignored: list[str] = []
        self.beans: dict[str, JdbcDataSource] = {}

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def unsupported(self, element: ET.Element, where: str = "", hint: str = "") -> ConfigError:
        # "<X> is not supported by pybroker yet" always appears verbatim; context follows it.
        context = [f"inside <{where}>"] if where and where != "broker" else []
        if hint:
            context.append(hint)
        suffix = f" ({'; '.join(context)})" if context else ""
        return self.error(f"<{_local(element.tag)}> is not supported by pybroker yet{suffix}")

    def parse(self, root: ET.Element) -> BrokerConfig:
        tag = _local(root.tag)
        if tag == "beans":
            self.check_attributes(root, frozenset())
            brokers = []
            for child in root:
                if _local(child.tag) == "bean":
                    self.bean(child)
                elif _local(child.tag) == "broker":
                    brokers.append(child)
                else:
                    raise self.unsupported(child, "beans")
            if len(brokers) != 1:
                raise self.error(f"expected exactly one <broker> inside <beans>, found {len(brokers)}")
            return self.broker(brokers[0])
        if tag == "broker":
            return self.broker(root)
        raise self.error(f"root element <{tag}> is not supported: expected <beans> or <broker>")

    def bean(self, element: ET.Element) -> None:
        """A data source bean (what <jdbcPersistenceAdapter dataSource="#id"> refers to)."""
        self.check_attributes(element, _BEAN_ATTRIBUTES)
        bean_id = self.attr(element, "id")
        where = f"<bean id={bean_id!r}>" if bean_id else "<bean>"
        if not bean_id:
            raise self.error("<bean> needs an id attribute (a data source is referred to by it)")
        if bean_id in self.beans:
            raise self.error(f"two <bean> elements have id {bean_id!r}")
        bean_class = self.attr(element, "class")
        if bean_class not in DATA_SOURCE_CLASSES:
            raise self.error(
                f"{where}: class {bean_class!r} is not supported by pybroker (supported: "
                f"{', '.join(DATA_SOURCE_CLASSES)})"
            )
        destroy = self.attr(element, "destroy-method")
        if destroy not in (None, "close"):
            raise self.error(f'{where}: destroy-method={destroy!r} is not supported (use "close")')
        properties: dict[str, str] = {}
        for child in element:
            name = self.attr(child, "name") if _local(child.tag) == "property" else None
            if name is None:
                raise self.unsupported(child, "bean", "a data source bean holds <property name=... value=...> only")
            self.check_attributes(child, frozenset({"name", "value"}))
            if len(child):
                raise self.error(f'{where}: <property name="{name}"> must carry its value in a value attribute')
            if name not in _DATA_SOURCE_PROPERTIES:
                raise self.error(
                    f'{where}: <property name="{name}"> is not supported by pybroker yet (supported: '
                    f"{', '.join(sorted(_DATA_SOURCE_PROPERTIES))})"
                )
            if name in properties:
                raise self.error(f'{where}: <property name="{name}"> is given twice')
            properties[name] = self.attr(child, "value") or ""
        for required in ("driverClassName", "url"):
            if not properties.get(required):
                raise self.error(f'{where} needs <property name="{required}" value="..."/>')
        driver = properties["driverClassName"]
        dialect = DRIVER_CLASSES.get(driver)
        if dialect is None:
            raise self.error(
                f'{where}: <property name="driverClassName"> {driver!r} is not supported by pybroker (supported: '
                f"{', '.join(DRIVER_CLASSES)})"
            )
        try:
            url = parse_jdbc_url(properties["url"])
        except JdbcUrlError as exc:
            raise self.error(f'{where}: <property name="url">: {exc}') from None
        if url.dialect is not dialect:
            raise self.error(
                f"{where}: driverClassName {driver!r} does not match the URL {properties['url']!r} "
                f"({dialect.value} driver, {url.dialect.value} URL)"
            )
        for option in url.ignored_options:
            self.ignored.append(f"JDBC URL option {option} (bean {bean_id})")
        self.beans[bean_id] = JdbcDataSource(
            bean_id=bean_id,
            url=url,
            username=properties.get("username", ""),
            password=properties.get("password", ""),
        )

    def check_attributes(self, element: ET.Element, allowed: frozenset[str]) -> None:
        for name, value in element.attrib.items():
            if name.startswith(_XSI):
                continue  # schemaLocation and friends carry no broker semantics
            local = _local(name)
            if local not in allowed:
                raise self.error(f"<{_local(element.tag)}> attribute {local!r} is not supported by pybroker yet")
            if "${" in value:
                raise self.error(
                    f"<{_local(element.tag)}> attribute {local}={value!r}: property placeholders are not supported"
                )

    def attr(self, element: ET.Element, name: str) -> str | None:
        for key, value in element.attrib.items():
            if _local(key) == name:
                return value.strip()
        return None

    def boolean(self, element: ET.Element, name: str, default: bool) -> bool:
        value = self.attr(element, name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise self.error(f"<{_local(element.tag)}> attribute {name}={value!r} is not a boolean (true/false)")

    def integer(self, element: ET.Element, name: str, default: int, minimum: int = 0) -> int:
        value = self.attr(element, name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self.error(f"<{_local(element.tag)}> attribute {name}={value!r} is not an integer") from None
        if number < minimum:
            raise self.error(f"<{_local(element.tag)}> attribute {name}={value!r} must be >= {minimum}")
        return number

    def broker(self, element: ET.Element) -> BrokerConfig:
        self.check_attributes(element, _BROKER_ATTRIBUTES)
        name = self.attr(element, "brokerName") or "localhost"
        data_dir = self.attr(element, "dataDirectory")
        use_jmx = self.boolean(element, "useJmx", True)
        persistent = self.boolean(element, "persistent", True)
        scheduler_support = self.boolean(element, "schedulerSupport", False)
        if not self.boolean(element, "start", True):
            raise self.error('<broker> start="false" is not supported: pybroker always starts the broker')
        if use_jmx:
            self.ignored.append("useJmx (pybroker has no JMX)")

        store: StoreConfig | JdbcStoreConfig | ReplicatedStoreConfig | None = None
        io_handler: IOExceptionHandlerConfig | None = None
        connectors: tuple[ConnectorConfig, ...] = ()
        network_connectors: tuple[NetworkConnectorConfig, ...] = ()
        policies = PolicyMap()
        redelivery: RedeliverySettings | None = None
        authentication: Authenticator | None = None
        seen: set[str] = set()
        for child in element:
            tag = _local(child.tag)
            if tag in seen:
                raise self.error(f"<{tag}> appears more than once inside <broker>")
            seen.add(tag)
            if tag == "persistenceAdapter":
                store = self.persistence_adapter(child)
            elif tag == "transportConnectors":
                connectors = self.transport_connectors(child)
            elif tag == "ioExceptionHandler":
                io_handler = self.io_exception_handler(child)
            elif tag == "plugins":
                redelivery, authentication = self.plugins(child)
            elif tag == "destinationPolicy":
                policies = self.destination_policy(child)
            elif tag == "networkConnectors":
                network_connectors = self.network_connectors(child)
            else:
                raise self.unsupported(child, "broker")
        bridge_listeners = [c for c in connectors if c.scheme == "tcp"]
        connectors = tuple(c for c in connectors if c.scheme != "tcp")
        if len(bridge_listeners) > 1:
            raise self.error("pybroker accepts bridges on one tcp:// <transportConnector> only")
        listener = bridge_listeners[0] if bridge_listeners else None
        network = NetworkConfig(
            listen=Endpoint(listener.host, listener.port) if listener else None,
            listener_name=listener.name if listener else "openwire",
            advertise=listener.discovery if listener else None,
            connectors=network_connectors,
        )
        if listener is None and any(c.discovery == "multicast" for c in network_connectors):
            raise self.error(
                "a multicast <networkConnector> needs a tcp:// <transportConnector discoveryUri=...> "
                "for the others to find this broker"
            )
        if not connectors:
            raise self.error("<broker> needs at least one stomp <transportConnector>")
        if persistent and store is None:
            raise self.error(
                '<broker persistent="true"> needs <persistenceAdapter><kahaDB directory=...> '
                "or <persistenceAdapter><jdbcPersistenceAdapter dataSource=...>"
            )
        if redelivery is not None and not scheduler_support:
            raise self.error(
                '<redeliveryPlugin> requires schedulerSupport="true" on <broker> '
                "(ActiveMQ refuses it otherwise: it schedules redeliveries with the broker's scheduler)"
            )
        if not persistent:
            if store is not None:
                self.ignored.append('persistenceAdapter (broker persistent="false")')
            if io_handler is not None:
                self.ignored.append('ioExceptionHandler (broker persistent="false")')
            store, io_handler = None, None
        if io_handler is not None and not isinstance(store, JdbcStoreConfig):
            raise self.error(
                "<ioExceptionHandler> is supported by pybroker only with <jdbcPersistenceAdapter> "
                "(a kahaDB journal failure always ends the master's term)"
            )
        return BrokerConfig(
            broker_name=name,
            connectors=connectors,
            store=store,
            data_directory=Path(data_dir) if data_dir else None,
            use_jmx=use_jmx,
            scheduler_support=scheduler_support,
            policies=policies,
            redelivery=redelivery,
            authentication=authentication,
            source=self.source,
            ignored=tuple(self.ignored),
            io_exception_handler=io_handler,
            network=network,
        )

    def persistence_adapter(self, element: ET.Element) -> StoreConfig | JdbcStoreConfig | ReplicatedStoreConfig:
        self.check_attributes(element, frozenset())
        children = list(element)
        if len(children) != 1:
            raise self.error(
                "<persistenceAdapter> needs exactly one <kahaDB> or <jdbcPersistenceAdapter>, "
                f"found {len(children)} elements"
            )
        adapter = children[0]
        if _local(adapter.tag) == "kahaDB":
            return self.kahadb(adapter)
        if _local(adapter.tag) == "jdbcPersistenceAdapter":
            return self.jdbc(adapter)
        if _local(adapter.tag) == "replicatedLevelDB":
            if list(adapter):
                raise self.error("<replicatedLevelDB> takes no child elements")
            try:
                return parse_replicated_leveldb(dict(adapter.attrib), self.ignored)
            except ReplicatedConfigError as exc:
                raise self.error(str(exc)) from None
        raise self.unsupported(
            adapter, "persistenceAdapter", "supported: <kahaDB>, <jdbcPersistenceAdapter>, <replicatedLevelDB>"
        )

    def jdbc(self, element: ET.Element) -> JdbcStoreConfig:
        self.check_attributes(element, _JDBC_ATTRIBUTES)
        reference = self.attr(element, "dataSource")
        if not reference:
            raise self.error('<jdbcPersistenceAdapter> needs a dataSource="#bean-id" attribute')
        if not reference.startswith("#"):
            raise self.error(f'<jdbcPersistenceAdapter> dataSource={reference!r} must refer to a bean as "#bean-id"')
        data_source = self.beans.get(reference[1:])
        if data_source is None:
            known = ", ".join(sorted(self.beans)) or "none"
            raise self.error(
                f"<jdbcPersistenceAdapter> dataSource={reference!r} names no <bean id={reference[1:]!r}> "
                f"(data source beans: {known})"
            )
        if not self.boolean(element, "useDatabaseLock", True):
            raise self.error(
                '<jdbcPersistenceAdapter> useDatabaseLock="false" is not supported: without the database lock '
                "every node would be master of the same tables"
            )
        locker = JdbcLockerConfig()
        seen_locker = False
        for child in element:
            if _local(child.tag) != "locker" or seen_locker:
                raise self.unsupported(child, "jdbcPersistenceAdapter")
            seen_locker = True
            locker = self.jdbc_locker(child)
        return JdbcStoreConfig(
            data_source=data_source,
            create_tables_on_startup=self.boolean(element, "createTablesOnStartup", True),
            lock_keep_alive_period_ms=self.integer(
                element, "lockKeepAlivePeriod", DEFAULT_JDBC_LOCK_KEEP_ALIVE_PERIOD_MS
            ),
            locker=locker,
        )

    def jdbc_locker(self, element: ET.Element) -> JdbcLockerConfig:
        self.check_attributes(element, frozenset())
        lockers = list(element)
        kinds = ", ".join(f"<{k}>" for k in _JDBC_LOCKER_ATTRIBUTES)
        if len(lockers) != 1 or _local(lockers[0].tag) not in _JDBC_LOCKER_ATTRIBUTES:
            found = ", ".join(f"<{_local(c.tag)}>" for c in lockers) or "nothing"
            raise self.error(
                f"<locker> inside <jdbcPersistenceAdapter> must hold exactly one of {kinds} (found {found})"
            )
        locker = lockers[0]
        kind = _local(locker.tag)
        self.check_attributes(locker, _JDBC_LOCKER_ATTRIBUTES[kind])
        if len(locker):
            raise self.unsupported(locker[0], kind)
        interval = self.integer(locker, "lockAcquireSleepInterval", DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS, minimum=1)
        if kind == "database-locker":
            return JdbcLockerConfig("database-locker", interval)
        holder = self.attr(locker, "leaseHolderId")
        if holder is not None and not holder:
            raise self.error("<lease-database-locker> leaseHolderId must not be empty")
        return JdbcLockerConfig(
            "lease-database-locker",
            interval,
            max_allowable_diff_from_db_time_ms=self.integer(locker, "maxAllowableDiffFromDBTime", 0),
            lease_holder_id=holder,
        )

    def io_exception_handler(self, element: ET.Element) -> IOExceptionHandlerConfig:
        self.check_attributes(element, frozenset())
        handlers = list(element)
        if len(handlers) != 1 or _local(handlers[0].tag) != "leaseLockerIOExceptionHandler":
            found = ", ".join(f"<{_local(c.tag)}>" for c in handlers) or "nothing"
            raise self.error(
                f"<ioExceptionHandler> must hold exactly one <leaseLockerIOExceptionHandler> (found {found}); "
                "other handlers are not supported by pybroker yet"
            )
        handler = handlers[0]
        self.check_attributes(handler, _IO_HANDLER_ATTRIBUTES)
        if len(handler):
            raise self.unsupported(handler[0], "leaseLockerIOExceptionHandler")
        return IOExceptionHandlerConfig(
            stop_start_connectors=self.boolean(handler, "stopStartConnectors", True),
            resume_check_sleep_period_ms=self.integer(
                handler, "resumeCheckSleepPeriod", DEFAULT_RESUME_CHECK_SLEEP_PERIOD_MS, minimum=1
            ),
        )

    def kahadb(self, element: ET.Element) -> StoreConfig:
        self.check_attributes(element, _KAHADB_ATTRIBUTES)
        directory = self.attr(element, "directory")
        if not directory:
            raise self.error("<kahaDB> needs a non-empty directory attribute")
        for name in sorted(IGNORED_KAHADB_ATTRIBUTES):
            if self.attr(element, name) is not None:
                self.ignored.append(f"kahaDB {name}")
        keep_alive = self.integer(element, "lockKeepAlivePeriod", DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS)
        sleep_interval = DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS
        fail_if_locked = False
        seen_locker = False
        for child in element:
            if _local(child.tag) != "locker" or seen_locker:
                raise self.unsupported(child, "kahaDB")
            seen_locker = True
            self.check_attributes(child, frozenset())
            lockers = list(child)
            if len(lockers) != 1 or _local(lockers[0].tag) != "shared-file-locker":
                found = ", ".join(f"<{_local(c.tag)}>" for c in lockers) or "nothing"
                raise self.error(
                    f"<locker> must hold exactly one <shared-file-locker> (found {found}); "
                    "other lockers are not supported by pybroker yet"
                )
            locker = lockers[0]
            self.check_attributes(locker, _LOCKER_ATTRIBUTES)
            if len(locker):
                raise self.unsupported(locker[0], "shared-file-locker")
            sleep_interval = self.integer(
                locker, "lockAcquireSleepInterval", DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS, minimum=1
            )
            fail_if_locked = self.boolean(locker, "failIfLocked", False)
        return StoreConfig(
            directory=Path(directory),
            lock_keep_alive_period_ms=keep_alive,
            lock_acquire_sleep_interval_ms=sleep_interval,
            fail_if_locked=fail_if_locked,
        )

    def transport_connectors(self, element: ET.Element) -> tuple[ConnectorConfig, ...]:
        self.check_attributes(element, frozenset())
        connectors: list[ConnectorConfig] = []
        for child in element:
            if _local(child.tag) != "transportConnector":
                raise self.unsupported(child, "transportConnectors")
            connectors.append(self.connector(child))
        names = [c.name for c in connectors]
        for name in names:
            if names.count(name) > 1:
                raise self.error(f"two <transportConnector> elements are named {name!r}")
        return tuple(connectors)

    def connector(self, element: ET.Element) -> ConnectorConfig:
        self.check_attributes(element, frozenset({"name", "uri", "discoveryUri"}))
        for child in element:
            raise self.unsupported(child, "transportConnector")
        uri = self.attr(element, "uri")
        if not uri:
            raise self.error("<transportConnector> needs a uri attribute")
        name = self.attr(element, "name") or uri
        where = f"<transportConnector name={name!r}> uri {uri!r}"
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError as exc:
            raise self.error(f"{where} is not a valid URI: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in _CONNECTOR_SCHEMES:
            raise self.error(
                f"{where}: scheme {scheme or '(none)'!r} is not supported by pybroker yet "
                "(supported: stomp, stomp+nio; tcp for the inter-broker listener)"
            )
        if not parts.hostname:
            raise self.error(f"{where} has no host")
        if port is None:
            raise self.error(f"{where} has no port")
        if parts.path not in ("", "/") or parts.fragment or parts.username:
            raise self.error(f"{where}: only scheme://host:port?options is supported")
        discovery_uri = self.attr(element, "discoveryUri")
        discovery: MulticastGroup | None = None
        if discovery_uri is not None:
            if scheme != "tcp":
                raise self.error(f"{where}: discoveryUri is supported by pybroker on the tcp:// listener only")
            try:
                discovery = parse_multicast(discovery_uri, f"<transportConnector name={name!r}> discoveryUri")
            except NetworkConfigError as exc:
                raise self.error(str(exc)) from None
        if scheme == "tcp" and parts.query:
            raise self.error(f"{where}: options on the inter-broker listener are not supported by pybroker yet")
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key not in _CONNECTOR_OPTIONS:
                raise self.error(f"{where}: option {key!r} is not supported by pybroker yet")
            if key in options:
                raise self.error(f"{where}: option {key!r} is given twice")
            options[key] = value
        return ConnectorConfig(
            name=name,
            scheme=scheme,
            host=parts.hostname,
            port=port,
            maximum_connections=self._option_int(where, options, "maximumConnections", DEFAULT_MAXIMUM_CONNECTIONS),
            max_frame_size=self._option_int(where, options, "wireFormat.maxFrameSize", DEFAULT_MAX_FRAME_SIZE),
            discovery=discovery,
        )

    # -- <networkConnectors> ------------------------------------------------------------------------

    def network_connectors(self, element: ET.Element) -> tuple[NetworkConnectorConfig, ...]:
        self.check_attributes(element, frozenset())
        connectors = tuple(
            self.network_connector(child)
            for child in self.only_children(element, frozenset({"networkConnector"}), "networkConnectors")
        )
        names = [c.name for c in connectors]
        for name in names:
            if names.count(name) > 1:
                # ActiveMQ names each bridge after its connector: two of one name would share a bridge id.
                raise self.error(f"two <networkConnector> elements are named {name!r} (give each a name)")
        return connectors

    def network_connector(self, element: ET.Element) -> NetworkConnectorConfig:
        self.check_attributes(element, CONNECTOR_ATTRIBUTES)
        uri = self.attr(element, "uri")
        if not uri:
            raise self.error("<networkConnector> needs a uri attribute")
        name = self.attr(element, "name") or "NC"
        where = f"<networkConnector name={name!r}>"
        try:
            discovery, targets, multicast, reconnect = parse_connector_uri(uri, where)
        except NetworkConfigError as exc:
            raise self.error(str(exc)) from None
        lists: dict[str, tuple[str, ...]] = {}
        for child in self.only_children(element, frozenset(DESTINATION_LISTS), "networkConnector"):
            tag = _local(child.tag)
            if tag in lists:
                raise self.error(f"{where}: <{tag}> appears more than once")
            self.check_attributes(child, frozenset())
            names: list[str] = []
            for destination in child:
                if _local(destination.tag) != "queue":
                    raise self.unsupported(
                        destination, tag, "pybroker bridges queues only: list <queue physicalName=...>"
                    )
                self.check_attributes(destination, frozenset({"physicalName"}))
                physical = self.attr(destination, "physicalName")
                if not physical:
                    raise self.error(f"{where}: <{tag}><queue> needs a physicalName")
                names.append(physical)
            lists[tag] = tuple(names)
        return NetworkConnectorConfig(
            discovery=discovery,
            targets=targets,
            multicast=multicast,
            name=name,
            duplex=self.boolean(element, "duplex", False),
            network_ttl=self.integer(element, "networkTTL", 1, minimum=1),
            conduit_subscriptions=self.boolean(element, "conduitSubscriptions", True),
            dynamic_only=self.boolean(element, "dynamicOnly", False),
            decrease_network_consumer_priority=self.boolean(element, "decreaseNetworkConsumerPriority", False),
            prefetch_size=self.integer(element, "prefetchSize", 1000, minimum=1),
            excluded=lists.get("excludedDestinations", ()),
            dynamically_included=lists.get("dynamicallyIncludedDestinations", ()),
            statically_included=lists.get("staticallyIncludedDestinations", ()),
            reconnect=reconnect,
        )

    def _option_int(self, where: str, options: dict[str, str], key: str, default: int) -> int:
        if key not in options:
            return default
        try:
            value = int(options[key])
        except ValueError:
            raise self.error(f"{where}: option {key}={options[key]!r} is not an integer") from None
        if value < 1:
            raise self.error(f"{where}: option {key}={options[key]!r} must be >= 1")
        return value

    # -- helpers for nested beans -------------------------------------------------------------------

    def only_children(self, element: ET.Element, allowed: frozenset[str], where: str) -> list[ET.Element]:
        children = list(element)
        for child in children:
            if _local(child.tag) not in allowed:
                raise self.unsupported(child, where)
        return children

    def single_child(self, element: ET.Element, allowed: frozenset[str]) -> ET.Element:
        tag = _local(element.tag)
        children = list(element)
        if len(children) != 1:
            names = " or ".join(f"<{a}>" for a in sorted(allowed))
            raise self.error(f"<{tag}> must hold exactly one {names}, found {len(children)} elements")
        child = children[0]
        if _local(child.tag) not in allowed:
            raise self.unsupported(child, tag)
        return child

    def positive_float(self, element: ET.Element, name: str, default: float) -> float:
        value = self.attr(element, name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise self.error(f"<{_local(element.tag)}> attribute {name}={value!r} is not a number") from None
        if number <= 0:
            raise self.error(f"<{_local(element.tag)}> attribute {name}={value!r} must be > 0")
        return number

    def destination_pattern(self, element: ET.Element, required: bool) -> DestinationPattern | None:
        tag = _local(element.tag)
        found: list[DestinationPattern] = []
        for attribute, kind in (("queue", DestinationKind.QUEUE), ("topic", DestinationKind.TOPIC)):
            value = self.attr(element, attribute)
            if value is not None:
                if not value:
                    raise self.error(f"<{tag}> attribute {attribute} is empty")
                found.append(DestinationPattern(kind, value))
        for attribute, kind in (("tempQueue", DestinationKind.TEMP_QUEUE), ("tempTopic", DestinationKind.TEMP_TOPIC)):
            if self.boolean(element, attribute, False):
                found.append(DestinationPattern(kind, ">"))
        if len(found) > 1:
            raise self.error(f"<{tag}> names more than one destination ({', '.join(str(p) for p in found)})")
        if not found and required:
            raise self.error(f"<{tag}> needs a queue, topic, tempQueue or tempTopic attribute")
        return found[0] if found else None

    # -- <plugins> ----------------------------------------------------------------------------------

    def plugins(self, element: ET.Element) -> tuple[RedeliverySettings | None, Authenticator | None]:
        self.check_attributes(element, frozenset())
        redelivery: RedeliverySettings | None = None
        authentication: Authenticator | None = None
        for plugin in element:
            tag = _local(plugin.tag)
            if tag == "redeliveryPlugin" and redelivery is None:
                redelivery = self.redelivery_plugin(plugin)
            elif tag == "simpleAuthenticationPlugin" and authentication is None:
                authentication = self.authentication_plugin(plugin)
            elif tag in ("redeliveryPlugin", "simpleAuthenticationPlugin"):
                raise self.error(f"<{tag}> appears more than once inside <plugins>")
            else:
                raise self.unsupported(
                    plugin, "plugins", "supported plugins: <simpleAuthenticationPlugin>, <redeliveryPlugin>"
                )
        return redelivery, authentication

    def authentication_plugin(self, element: ET.Element) -> Authenticator:
        self.check_attributes(element, frozenset({"anonymousAccessAllowed", "anonymousUser", "anonymousGroup"}))
        users: list[User] = []
        for child in self.only_children(element, frozenset({"users"}), "simpleAuthenticationPlugin"):
            self.check_attributes(child, frozenset())
            for entry in self.only_children(child, frozenset({"authenticationUser"}), "users"):
                self.check_attributes(entry, frozenset({"username", "password", "groups"}))
                if len(entry):
                    raise self.unsupported(entry[0], "authenticationUser")
                username = self.attr(entry, "username")
                if not username:
                    raise self.error("<authenticationUser> needs a username attribute")
                if any(u.username == username for u in users):
                    raise self.error(f"<authenticationUser username={username!r}> appears more than once")
                password = self.attr(entry, "password")
                if password is None:
                    raise self.error(f"<authenticationUser username={username!r}> needs a password attribute")
                groups = tuple(g.strip() for g in (self.attr(entry, "groups") or "").split(",") if g.strip())
                users.append(User(username, password, groups))
        anonymous = self.boolean(element, "anonymousAccessAllowed", False)
        if not users and not anonymous:
            raise self.error("<simpleAuthenticationPlugin> has no <authenticationUser>: nobody could connect")
        return Authenticator(
            tuple(users),
            anonymous_access_allowed=anonymous,
            anonymous_user=self.attr(element, "anonymousUser") or "anonymous",
            anonymous_group=self.attr(element, "anonymousGroup") or "anonymous",
        )

    def redelivery_plugin(self, element: ET.Element) -> RedeliverySettings:
        self.check_attributes(element, frozenset({"fallbackToDeadLetter", "sendToDlqIfMaxRetriesExceeded"}))
        policies: PatternMap[RedeliveryPolicy] = PatternMap()
        children = self.only_children(element, frozenset({"redeliveryPolicyMap"}), "redeliveryPlugin")
        if len(children) > 1:
            raise self.error("<redeliveryPlugin> holds more than one <redeliveryPolicyMap>")
        if children:
            outer = children[0]
            self.check_attributes(outer, frozenset())
            inner = self.single_child(outer, frozenset({"redeliveryPolicyMap"}))
            self.check_attributes(inner, frozenset())
            entries: list[tuple[DestinationPattern, RedeliveryPolicy]] = []
            default: RedeliveryPolicy | None = None
            for child in self.only_children(
                inner, frozenset({"redeliveryPolicyEntries", "defaultEntry"}), "redeliveryPolicyMap"
            ):
                self.check_attributes(child, frozenset())
                if _local(child.tag) == "defaultEntry":
                    if default is not None:
                        raise self.error("<redeliveryPolicyMap> has more than one <defaultEntry>")
                    policy_element = self.single_child(child, frozenset({"redeliveryPolicy"}))
                    if self.destination_pattern(policy_element, required=False) is not None:
                        raise self.error("<defaultEntry><redeliveryPolicy> must not name a destination")
                    default = self.redelivery_policy(policy_element)
                    continue
                for policy_element in self.only_children(
                    child, frozenset({"redeliveryPolicy"}), "redeliveryPolicyEntries"
                ):
                    pattern = self.destination_pattern(policy_element, required=True)
                    assert pattern is not None
                    entries.append((pattern, self.redelivery_policy(policy_element)))
            policies = PatternMap(tuple(entries), default)
        return RedeliverySettings(
            policies=policies,
            fallback_to_dead_letter=self.boolean(element, "fallbackToDeadLetter", True),
            send_to_dlq_if_max_retries_exceeded=self.boolean(element, "sendToDlqIfMaxRetriesExceeded", True),
        )

    def redelivery_policy(self, element: ET.Element) -> RedeliveryPolicy:
        self.check_attributes(element, _REDELIVERY_POLICY_ATTRIBUTES)
        if len(element):
            raise self.unsupported(element[0], "redeliveryPolicy")
        maximum = self.integer(element, "maximumRedeliveries", 6, minimum=-1)
        initial = self.integer(element, "initialRedeliveryDelay", 1000)
        delay = self.integer(element, "redeliveryDelay", initial)
        for name, value in (("initialRedeliveryDelay", initial), ("redeliveryDelay", delay)):
            if value < MIN_REDELIVERY_DELAY_MS:
                raise self.error(
                    f"<redeliveryPolicy> {name}={value} is too short: ActiveMQ's redeliveryPlugin requires "
                    f"at least {MIN_REDELIVERY_DELAY_MS} ms"
                )
        return RedeliveryPolicy(
            maximum_redeliveries=maximum,
            initial_redelivery_delay_ms=initial,
            redelivery_delay_ms=delay,
            use_exponential_back_off=self.boolean(element, "useExponentialBackOff", False),
            back_off_multiplier=self.positive_float(element, "backOffMultiplier", 5.0),
            maximum_redelivery_delay_ms=self.integer(element, "maximumRedeliveryDelay", -1, minimum=-1),
        )

    # -- <destinationPolicy> ------------------------------------------------------------------------

    def destination_policy(self, element: ET.Element) -> PolicyMap:
        # <destinationPolicy> is the property, <policyMap> the bean (unlike the redelivery plugin's
        # <redeliveryPolicyMap><redeliveryPolicyMap>, this bean's element is not doubled).
        self.check_attributes(element, frozenset())
        inner = self.single_child(element, frozenset({"policyMap"}))
        self.check_attributes(inner, frozenset())
        if any(_local(child.tag) == "policyMap" for child in inner):
            raise self.error(
                "<destinationPolicy><policyMap> holds <policyEntries> and <defaultEntry> directly: "
                "ActiveMQ's schema has no second <policyMap> there"
            )
        entries: list[tuple[DestinationPattern, PolicyEntry]] = []
        default: PolicyEntry | None = None
        for child in self.only_children(inner, frozenset({"policyEntries", "defaultEntry"}), "policyMap"):
            self.check_attributes(child, frozenset())
            if _local(child.tag) == "defaultEntry":
                if default is not None:
                    raise self.error("<policyMap> has more than one <defaultEntry>")
                entry = self.single_child(child, frozenset({"policyEntry"}))
                if self.destination_pattern(entry, required=False) is not None:
                    raise self.error("<defaultEntry><policyEntry> must not name a destination")
                default = self.policy_entry(entry)
                continue
            for entry in self.only_children(child, frozenset({"policyEntry"}), "policyEntries"):
                pattern = self.destination_pattern(entry, required=True)
                assert pattern is not None
                entries.append((pattern, self.policy_entry(entry)))
        return PolicyMap(PatternMap(tuple(entries), default))

    def policy_entry(self, element: ET.Element) -> PolicyEntry:
        self.check_attributes(element, _POLICY_ENTRY_ATTRIBUTES)
        dead_letter = DeadLetterStrategy()
        groups = self.group_factory_type(element)
        seen: set[str] = set()
        replay = True  # pybroker's default; the factory's own attribute defaults to false, as in ActiveMQ
        for child in self.only_children(
            element,
            frozenset({"deadLetterStrategy", "messageGroupMapFactory", "networkBridgeFilterFactory"}),
            "policyEntry",
        ):
            tag = _local(child.tag)
            if tag in seen:
                raise self.error(f"<{tag}> appears more than once inside <policyEntry>")
            seen.add(tag)
            self.check_attributes(child, frozenset())
            if tag == "networkBridgeFilterFactory":
                factory = self.single_child(child, frozenset({"conditionalNetworkBridgeFilterFactory"}))
                self.check_attributes(factory, frozenset({"replayWhenNoConsumers"}))
                replay = self.boolean(factory, "replayWhenNoConsumers", False)
            elif tag == "deadLetterStrategy":
                dead_letter = self.dead_letter_strategy(
                    self.single_child(child, frozenset(kind.value for kind in DeadLetterKind))
                )
            else:
                if self.attr(element, "messageGroupMapFactoryType") is not None:
                    raise self.error("<policyEntry> has both messageGroupMapFactoryType and <messageGroupMapFactory>")
                groups = self.group_factory(self.single_child(child, frozenset(kind.value for kind in GroupMapKind)))
        return PolicyEntry(
            prioritized_messages=self.boolean(element, "prioritizedMessages", False),
            use_consumer_priority=self.boolean(element, "useConsumerPriority", True),
            all_consumers_exclusive_by_default=self.boolean(element, "allConsumersExclusiveByDefault", False),
            expire_messages_period_ms=self.integer(element, "expireMessagesPeriod", 30_000),
            queue_prefetch=self.integer(element, "queuePrefetch", 1000, minimum=1),
            topic_prefetch=self.integer(element, "topicPrefetch", 32766, minimum=1),
            durable_topic_prefetch=self.integer(element, "durableTopicPrefetch", 100, minimum=1),
            queue_browser_prefetch=self.integer(element, "queueBrowserPrefetch", 500, minimum=1),
            dead_letter=dead_letter,
            groups=groups,
            replay_when_no_consumers=replay,
            enable_audit=self.boolean(element, "enableAudit", True),
        )

    def dead_letter_strategy(self, element: ET.Element) -> DeadLetterStrategy:
        kind = DeadLetterKind(_local(element.tag))
        self.check_attributes(element, _DEAD_LETTER_ATTRIBUTES[kind])
        if not self.boolean(element, "enableAudit", True):
            raise self.error(
                f'<{kind.value}> enableAudit="false" is not supported by pybroker yet '
                "(it never dead-letters a message twice, which is what the audit prevents)"
            )
        if self.boolean(element, "destinationPerDurableSubscriber", False):
            raise self.error(f'<{kind.value}> destinationPerDurableSubscriber="true" is not supported by pybroker yet')
        dead_letter_queue = DeadLetterStrategy.dead_letter_queue
        for child in self.only_children(element, frozenset({"deadLetterQueue"}), kind.value):
            if kind is not DeadLetterKind.SHARED:
                raise self.unsupported(child, kind.value)
            self.check_attributes(child, frozenset())
            queue = self.single_child(child, frozenset({"queue"}))
            self.check_attributes(queue, frozenset({"physicalName"}))
            name = self.attr(queue, "physicalName")
            if not name:
                raise self.error("<deadLetterQueue><queue> needs a physicalName attribute")
            dead_letter_queue = name
        defaults = DeadLetterStrategy()
        return DeadLetterStrategy(
            kind=kind,
            dead_letter_queue=dead_letter_queue,
            queue_prefix=self.attr(element, "queuePrefix") or defaults.queue_prefix,
            topic_prefix=self.attr(element, "topicPrefix") or defaults.topic_prefix,
            queue_suffix=self.attr(element, "queueSuffix") or "",
            topic_suffix=self.attr(element, "topicSuffix") or "",
            use_queue_for_queue_messages=self.boolean(element, "useQueueForQueueMessages", True),
            use_queue_for_topic_messages=self.boolean(element, "useQueueForTopicMessages", True),
            process_expired=self.boolean(element, "processExpired", True),
            process_non_persistent=self.boolean(element, "processNonPersistent", False),
            expiration_ms=self.integer(element, "expiration", 0),
        )

    def group_factory(self, element: ET.Element) -> GroupMapSettings:
        kind = GroupMapKind(_local(element.tag))
        allowed = {
            GroupMapKind.CACHED: frozenset({"cacheSize"}),
            GroupMapKind.SIMPLE: frozenset(),
            GroupMapKind.HASH_BUCKET: frozenset({"cacheSize", "bucketCount"}),
        }[kind]
        self.check_attributes(element, allowed)
        if len(element):
            raise self.unsupported(element[0], kind.value)
        default_cache = 64 if kind is GroupMapKind.HASH_BUCKET else 1024
        return GroupMapSettings(
            kind=kind,
            cache_size=self.integer(element, "cacheSize", default_cache, minimum=1),
            bucket_count=self.integer(element, "bucketCount", 1024, minimum=1),
        )

    def group_factory_type(self, element: ET.Element) -> GroupMapSettings:
        value = self.attr(element, "messageGroupMapFactoryType")
        if value is None:
            return GroupMapSettings()
        name, _, query = value.partition("?")
        kind = _GROUP_FACTORY_TYPES.get(name.strip())
        if kind is None:
            raise self.error(f"<policyEntry> messageGroupMapFactoryType={value!r}: expected cached, simple or bucket")
        options = dict(parse_qsl(query, keep_blank_values=True))
        allowed = {"cacheSize", "bucketCount"} if kind is GroupMapKind.HASH_BUCKET else {"cacheSize"}
        if kind is GroupMapKind.SIMPLE:
            allowed = set()
        settings = {"cacheSize": 64 if kind is GroupMapKind.HASH_BUCKET else 1024, "bucketCount": 1024}
        for key, raw in options.items():
            if key not in allowed:
                raise self.error(f"<policyEntry> messageGroupMapFactoryType={value!r}: option {key!r} is not supported")
            try:
                settings[key] = int(raw)
            except ValueError:
                raise self.error(
                    f"<policyEntry> messageGroupMapFactoryType={value!r}: {key} is not an integer"
                ) from None
            if settings[key] < 1:
                raise self.error(f"<policyEntry> messageGroupMapFactoryType={value!r}: {key} must be >= 1")
        return GroupMapSettings(kind=kind, cache_size=settings["cacheSize"], bucket_count=settings["bucketCount"])
