"""Topology presets: the master/slave modes ActiveMQ Classic offers (shared file, JDBC, replicated)."""

from __future__ import annotations

from typing import Literal

from harness.topology.model import (
    BrokerSettings,
    DatabaseKind,
    IOExceptionHandler,
    JdbcLockerKind,
    JdbcStore,
    LockSettings,
    MasterSlaveGroup,
    ReplicatedStore,
    SyncMode,
    Topology,
)

# The lease locker's default lease here: long enough that a keep-alive every second renews it twice
# over, short enough that a takeover after a kill -9 takes a few seconds.
DEFAULT_LEASE_MS = 3000


def shared_file(
    nodes: int = 2,
    *,
    lock_acquire_sleep_ms: int | None = 1000,
    lock_keepalive_ms: int | None = 1000,
    name: str | None = None,
    broker: BrokerSettings | None = None,
    client_links: bool = False,
) -> Topology:
    """Shared file system master/slave: ``nodes`` brokers on one kahaDB directory; the one holding its
    lock file is master.

    The defaults poll the lock every second and check it every second, the settings that make
    ActiveMQ fail over in about a second and step down when its lock is stolen. Pass None to leave
    a setting at the vendor's own default (ActiveMQ: 10000 ms poll, keep-alive off). ``broker``
    adds connector limits, plugins and destination policies (see BrokerSettings); every node of
    the group gets the same ones. ``client_links`` puts a link proxy between the clients and each node.
    """
    if nodes < 1:
        raise ValueError(f"shared_file: nodes must be at least 1, got {nodes}")
    lock = LockSettings(acquire_sleep_ms=lock_acquire_sleep_ms, keepalive_ms=lock_keepalive_ms)
    group = MasterSlaveGroup(
        name="ms-broker-a",
        nodes=tuple(f"amq{i}" for i in range(1, nodes + 1)),
        lock=lock,
        broker=broker or BrokerSettings(),
    )
    return Topology(name=name or f"shared_file({nodes})", groups=(group,), client_links=client_links)


def jdbc(
    nodes: int = 2,
    db: DatabaseKind = "postgresql",
    locker: JdbcLockerKind = "database",
    *,
    lock_acquire_sleep_ms: int | Literal["preset"] | None = "preset",
    lock_keepalive_ms: int | None = 1000,
    max_diff_from_db_time_ms: int | None = None,
    io_handler: IOExceptionHandler | None = None,
    name: str | None = None,
    broker: BrokerSettings | None = None,
    client_links: bool = False,
) -> Topology:
    """JDBC master/slave: ``nodes`` brokers on one database (``useDatabaseLock=true``); the one holding
    the database lock is master.

    ``lock_acquire_sleep_ms`` is how often a slave tries the lock, and for the lease locker the
    lease's length; its default here is 1000 ms for the database locker and 3000 ms for a lease.
    ``lock_keepalive_ms`` is how often the master updates (renews) its lock; 1000 ms by default. Pass
    None to leave either at the vendor's default (ActiveMQ: 10000 ms and 30000 ms, the lease trap).
    ``io_handler`` sets <leaseLockerIOExceptionHandler>; None keeps the vendor's default handler.
    """
    if nodes < 1:
        raise ValueError(f"jdbc: nodes must be at least 1, got {nodes}")
    if lock_acquire_sleep_ms == "preset":
        lock_acquire_sleep_ms = DEFAULT_LEASE_MS if locker == "lease" else 1000
    store = JdbcStore(
        database=db, locker=locker, max_diff_from_db_time_ms=max_diff_from_db_time_ms, io_handler=io_handler
    )
    group = MasterSlaveGroup(
        name="ms-broker-a",
        nodes=tuple(f"amq{i}" for i in range(1, nodes + 1)),
        store="jdbc",
        lock=LockSettings(acquire_sleep_ms=lock_acquire_sleep_ms, keepalive_ms=lock_keepalive_ms),
        broker=broker or BrokerSettings(),
        jdbc=store,
    )
    return Topology(name=name or f"jdbc({nodes}, {db}, {locker})", groups=(group,), client_links=client_links)


def replicated(
    nodes: int = 3,
    zookeepers: int = 3,
    sync: SyncMode = "quorum_mem",
    *,
    zk_session_timeout_ms: int = 2000,
    zk_path: str = "/default",
    weights: tuple[int, ...] = (),
    replication_links: bool = False,
    name: str | None = None,
    broker: BrokerSettings | None = None,
) -> Topology:
    """Replicated master/slave: ``nodes`` brokers (``replicas``), each with its own store, electing a
    master through a ZooKeeper ensemble of ``zookeepers`` nodes (three brokers: a quorum of
    two; with fewer than a quorum alive there is no master). ``weights`` (one per node, default 1)
    breaks ties between nodes that are equally up to date. ``replication_links`` runs each slave's
    stream from each possible master through a link proxy "<slave>-><master>" (local runtime only).
    """
    if nodes < 1:
        raise ValueError(f"replicated: nodes must be at least 1, got {nodes}")
    if len(weights) > nodes:
        raise ValueError(f"replicated: {len(weights)} weights for {nodes} nodes")
    store = ReplicatedStore(
        zookeepers=zookeepers,
        sync=sync,
        zk_session_timeout_ms=zk_session_timeout_ms,
        zk_path=zk_path,
        weights=weights,
        replication_links=replication_links,
    )
    group = MasterSlaveGroup(
        name="ms-broker-a",
        nodes=tuple(f"amq{i}" for i in range(1, nodes + 1)),
        store="replicated",
        broker=broker or BrokerSettings(),
        replicated=store,
    )
    return Topology(name=name or f"replicated({nodes}, zk={zookeepers}, {sync})", groups=(group,))
