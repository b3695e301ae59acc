"""Plain data describing a cluster: master/slave groups of nodes sharing one store, and broker settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from harness.topology.network import NetworkConnector

StoreKind = Literal["shared-file", "jdbc", "replicated"]
DatabaseKind = Literal["postgresql", "mariadb"]
JdbcLockerKind = Literal["database", "lease"]
# <replicatedLevelDB sync=...>: when the master may confirm a write (ActiveMQ's names).
SyncMode = Literal["quorum_mem", "quorum_disk"]
SYNC_MODES: tuple[SyncMode, ...] = ("quorum_mem", "quorum_disk")


@dataclass(frozen=True)
class LockSettings:
    """The locker settings of a shared store; None means "leave the vendor's default".

    ActiveMQ's defaults: lockAcquireSleepInterval 10000 ms, lockKeepAlivePeriod 0 (off).
    """

    acquire_sleep_ms: int | None = None
    keepalive_ms: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"lockAcquireSleepInterval": self.acquire_sleep_ms, "lockKeepAlivePeriod": self.keepalive_ms}


@dataclass(frozen=True)
class IOExceptionHandler:
    """``<leaseLockerIOExceptionHandler>``: on a database failure stop the connectors, then resume
    them once a checkpoint succeeds while the broker still holds its lock.

    None (on JdbcStore) keeps the vendor's default handler; ActiveMQ's default resume check is 5000 ms.
    """

    stop_start_connectors: bool = True
    resume_check_ms: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"stopStartConnectors": self.stop_start_connectors, "resumeCheckSleepPeriod": self.resume_check_ms}


@dataclass(frozen=True)
class JdbcStore:
    """JDBC master/slave: every node of the group keeps its messages in one database, whose lock decides
    the master. ``locker`` "database" holds a row lock on an open connection; "lease" renews a lease in
    the lock table (its length is LockSettings.acquire_sleep_ms, renewed every keepalive_ms).
    """

    database: DatabaseKind = "postgresql"
    locker: JdbcLockerKind = "database"
    max_diff_from_db_time_ms: int | None = None
    io_handler: IOExceptionHandler | None = None

    def __post_init__(self) -> None:
        if self.database not in ("postgresql", "mariadb"):
            raise ValueError(f"JdbcStore: database must be 'postgresql' or 'mariadb', not {self.database!r}")
        if self.locker not in ("database", "lease"):
            raise ValueError(f"JdbcStore: locker must be 'database' or 'lease', not {self.locker!r}")
        if self.max_diff_from_db_time_ms is not None and self.locker != "lease":
            raise ValueError("JdbcStore: max_diff_from_db_time_ms is a setting of the lease locker only")

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"database": self.database, "locker": self.locker}
        if self.max_diff_from_db_time_ms is not None:
            described["maxAllowableDiffFromDBTime"] = self.max_diff_from_db_time_ms
        if self.io_handler is not None:
            described["ioExceptionHandler"] = self.io_handler.describe()
        return described


@dataclass(frozen=True)
class ReplicatedStore:
    """Replicated master/slave: each node keeps its own copy of the store, the nodes elect a
    master through a ZooKeeper ensemble of ``zookeepers`` nodes, and the master confirms a write only
    once a quorum (replicas/2 + 1, itself included) holds it: in memory (quorum_mem) or on disk
    (quorum_disk). ``replicas`` is the group's size; ActiveMQ's attribute defaults are zkPath /default,
    zkSessionTimeout 2 s, weight 1 (the weight breaks ties between equally up-to-date nodes).
    ``replication_links``: each slave reaches each possible master through a link proxy of its own,
    named "<slave>-><master>" (e.g. "amq3->amq1"), so that one slave can be cut from the master.
    """

    zookeepers: int = 3
    sync: SyncMode = "quorum_mem"
    zk_session_timeout_ms: int = 2000
    zk_path: str = "/default"
    weights: tuple[int, ...] = ()
    replication_links: bool = False

    def __post_init__(self) -> None:
        if self.zookeepers < 1:
            raise ValueError(f"ReplicatedStore: zookeepers must be at least 1, got {self.zookeepers}")
        if self.sync not in SYNC_MODES:
            raise ValueError(f"ReplicatedStore: sync must be one of {', '.join(SYNC_MODES)}, not {self.sync!r}")
        if self.zk_session_timeout_ms < 1000:
            raise ValueError(
                f"ReplicatedStore: zk_session_timeout_ms must be at least 1000, got {self.zk_session_timeout_ms}"
            )
        if not self.zk_path.startswith("/") or self.zk_path.endswith("/"):
            raise ValueError(f"ReplicatedStore: zk_path must be an absolute ZooKeeper path, not {self.zk_path!r}")

    def weight(self, index: int) -> int:
        """The weight of the group's ``index``-th node (1, ActiveMQ's default, unless given)."""
        return self.weights[index] if index < len(self.weights) else 1

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "zookeepers": self.zookeepers,
            "sync": self.sync,
            "zkSessionTimeout": self.zk_session_timeout_ms,
            "zkPath": self.zk_path,
        }
        if self.weights:
            described["weights"] = list(self.weights)
        if self.replication_links:
            described["replication_links"] = True
        return described


@dataclass(frozen=True)
class ConnectorLimits:
    """Options of the STOMP transport connector; None leaves the vendor's default.

    ActiveMQ's defaults: maximumConnections 1000, wireFormat.maxFrameSize unlimited (the data
    length alone is capped at 100 MB).
    """

    maximum_connections: int | None = None
    max_frame_size: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("maximum_connections", self.maximum_connections), ("max_frame_size", self.max_frame_size)):
            if value is not None and value < 1:
                raise ValueError(f"ConnectorLimits: {name} must be at least 1, got {value}")

    def uri_options(self) -> dict[str, int]:
        options = {"maximumConnections": self.maximum_connections, "wireFormat.maxFrameSize": self.max_frame_size}
        return {k: v for k, v in options.items() if v is not None}


@dataclass(frozen=True)
class User:
    """One user of the simple authentication plugin."""

    name: str
    password: str
    groups: tuple[str, ...] = ("users",)


@dataclass(frozen=True)
class SimpleAuthentication:
    """``<simpleAuthenticationPlugin>``: only these users may connect (and anonymous ones if allowed)."""

    users: tuple[User, ...]
    anonymous_access_allowed: bool = False

    def __post_init__(self) -> None:
        if not self.users:
            raise ValueError("SimpleAuthentication needs at least one User")


@dataclass(frozen=True)
class RedeliveryLimit:
    """``<redeliveryPlugin>``: the broker redelivers a rejected (NACKed) message, then dead-letters it.

    ActiveMQ refuses delays under 1000 ms for this plugin and needs ``schedulerSupport="true"``
    on the broker, which the renderer then sets.
    """

    maximum_redeliveries: int
    initial_delay_ms: int = 1000
    delay_ms: int = 1000

    def __post_init__(self) -> None:
        if self.maximum_redeliveries < 0:
            raise ValueError(f"RedeliveryLimit: maximum_redeliveries must be >= 0, got {self.maximum_redeliveries}")
        if min(self.initial_delay_ms, self.delay_ms) < 1000:
            raise ValueError(
                "RedeliveryLimit: ActiveMQ's redeliveryPlugin refuses delays under 1000 ms "
                f"(got initial {self.initial_delay_ms} ms, then {self.delay_ms} ms)"
            )


@dataclass(frozen=True)
class DeadLetterQueues:
    """A ``<deadLetterStrategy>``: where rejected and expired messages go.

    ``queue_prefix`` None keeps the shared queue ActiveMQ.DLQ; a prefix gives each queue its own
    dead-letter queue named prefix + queue name (individualDeadLetterStrategy).
    """

    queue_prefix: str | None = None
    process_expired: bool = True
    process_non_persistent: bool = False


@dataclass(frozen=True)
class DestinationPolicy:
    """One ``<policyEntry>``: settings for the queues (or topics) matching a wildcard such as ``>``.

    With neither ``queue`` nor ``topic`` given it applies to every queue (``queue=">"``).
    """

    queue: str | None = None
    topic: str | None = None
    dead_letter: DeadLetterQueues | None = None
    prioritized_messages: bool | None = None
    expire_messages_period_ms: int | None = None
    # Networks of brokers: <conditionalNetworkBridgeFilterFactory replayWhenNoConsumers="true"/> lets a
    # message forwarded to a broker whose consumers left go back over the bridge (queues only).
    replay_when_no_consumers: bool | None = None
    # The destination's duplicate audit (ActiveMQ: on); turned off next to replay so that replayed
    # messages are not taken for duplicates.
    enable_audit: bool | None = None

    def __post_init__(self) -> None:
        if self.queue is not None and self.topic is not None:
            raise ValueError("DestinationPolicy: give exactly one of queue= or topic= (a name or a wildcard)")
        if self.queue is None and self.topic is None:
            object.__setattr__(self, "queue", ">")  # frozen: set once, here
        if self.expire_messages_period_ms is not None and self.expire_messages_period_ms < 0:
            raise ValueError(
                f"DestinationPolicy: expire_messages_period_ms must be >= 0, got {self.expire_messages_period_ms}"
            )


@dataclass(frozen=True)
class BrokerSettings:
    """Broker configuration beyond the store: connector limits, plugins, destination policies.

    The defaults render nothing: the vendor's own defaults apply.
    """

    connector: ConnectorLimits = field(default_factory=ConnectorLimits)
    authentication: SimpleAuthentication | None = None
    redelivery: RedeliveryLimit | None = None
    policies: tuple[DestinationPolicy, ...] = ()

    @property
    def scheduler_support(self) -> bool:
        return self.redelivery is not None

    @property
    def is_default(self) -> bool:
        return self == BrokerSettings()

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {}
        if self.connector.uri_options():
            described["connector"] = self.connector.uri_options()
        if self.authentication is not None:
            described["authentication"] = {
                "users": [u.name for u in self.authentication.users],
                "anonymousAccessAllowed": self.authentication.anonymous_access_allowed,
            }
        if self.redelivery is not None:
            described["redelivery"] = {
                "maximumRedeliveries": self.redelivery.maximum_redeliveries,
                "initialRedeliveryDelay": self.redelivery.initial_delay_ms,
                "redeliveryDelay": self.redelivery.delay_ms,
            }
        if self.policies:
            described["policies"] = [_describe_policy(p) for p in self.policies]
        return described


def _describe_policy(policy: DestinationPolicy) -> dict[str, Any]:
    described: dict[str, Any] = {"queue": policy.queue} if policy.queue is not None else {"topic": policy.topic}
    if policy.dead_letter is not None:
        described["deadLetter"] = {
            "queuePrefix": policy.dead_letter.queue_prefix,
            "processExpired": policy.dead_letter.process_expired,
            "processNonPersistent": policy.dead_letter.process_non_persistent,
        }
    if policy.prioritized_messages is not None:
        described["prioritizedMessages"] = policy.prioritized_messages
    if policy.expire_messages_period_ms is not None:
        described["expireMessagesPeriod"] = policy.expire_messages_period_ms
    if policy.replay_when_no_consumers is not None:
        described["replayWhenNoConsumers"] = policy.replay_when_no_consumers
    if policy.enable_audit is not None:
        described["enableAudit"] = policy.enable_audit
    return described


@dataclass(frozen=True)
class MasterSlaveGroup:
    """Nodes that share one store; the lock on the store decides which one is master."""

    name: str
    nodes: tuple[str, ...]
    store: StoreKind = "shared-file"
    lock: LockSettings = field(default_factory=LockSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    jdbc: JdbcStore | None = None
    replicated: ReplicatedStore | None = None

    def __post_init__(self) -> None:
        if (self.store == "jdbc") != (self.jdbc is not None):
            raise ValueError(
                f"group {self.name}: a jdbc store needs jdbc=JdbcStore(...), and only a jdbc store has one"
            )
        if (self.store == "replicated") != (self.replicated is not None):
            raise ValueError(
                f"group {self.name}: a replicated store needs replicated=ReplicatedStore(...), "
                "and only a replicated store has one"
            )


@dataclass(frozen=True)
class Topology:
    """Groups of nodes, the network connectors that bridge nodes (networks of brokers), and whether
    clients reach the nodes through link proxies.

    A node that stands alone in a network is a group of one; with ``bridge_links`` each bridge runs
    through a link proxy named "<from>-><to>" (e.g. "amq4->amq1"). ``client_links``: clients reach every
    node through a link proxy, so that a scenario can cut the clients off a node
    (faults.isolate_clients) while the brokers still see their store and each other."""

    name: str
    groups: tuple[MasterSlaveGroup, ...]
    connectors: tuple[NetworkConnector, ...] = ()
    client_links: bool = False
    # Every bridge goes through a link proxy named "<from>-><to>", for bridge faults (faults.cut_link ...).
    bridge_links: bool = False

    def __post_init__(self) -> None:
        names = [n for g in self.groups for n in g.nodes]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"topology {self.name}: node names used twice: {', '.join(duplicated)}")
        if not names:
            raise ValueError(f"topology {self.name}: has no nodes")
        if self.bridge_links and not self.connectors:
            raise ValueError(f"topology {self.name}: bridge_links needs network connectors (a network topology)")
        if self.bridge_links and any(c.discovery == "multicast" for c in self.connectors):
            raise ValueError(f"topology {self.name}: multicast discovery finds brokers by itself: no bridge links")
        for connector in self.connectors:
            unknown = [n for n in (connector.node, *connector.targets) if n not in names]
            if unknown:
                raise ValueError(
                    f"topology {self.name}: a network connector names unknown nodes: {', '.join(unknown)} "
                    f"(nodes: {', '.join(names)})"
                )

    @property
    def is_network(self) -> bool:
        return bool(self.connectors)

    def connectors_of(self, node: str) -> tuple[NetworkConnector, ...]:
        return tuple(c for c in self.connectors if c.node == node)

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(n for g in self.groups for n in g.nodes)

    def group_of(self, node: str) -> MasterSlaveGroup:
        for group in self.groups:
            if node in group.nodes:
                return group
        raise KeyError(f"topology {self.name}: no node named {node!r} (nodes: {', '.join(self.nodes)})")

    def describe(self) -> dict[str, Any]:
        groups = []
        for g in self.groups:
            described: dict[str, Any] = {
                "name": g.name,
                "nodes": list(g.nodes),
                "store": g.store,
                "lock": g.lock.describe(),
            }
            if g.jdbc is not None:
                described["jdbc"] = g.jdbc.describe()
            if g.replicated is not None:
                described["replicated"] = g.replicated.describe()
            if not g.broker.is_default:
                described["broker"] = g.broker.describe()
            groups.append(described)
        topology: dict[str, Any] = {"name": self.name, "groups": groups}
        if self.connectors:
            topology["networkConnectors"] = [c.describe() for c in self.connectors]
        if self.client_links:
            topology["client_links"] = True
        if self.bridge_links:
            topology["bridge_links"] = True
        return topology
