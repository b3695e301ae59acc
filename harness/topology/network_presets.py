"""Network-of-brokers presets: plain networks, master/slave pairs bridged into a network (so that a
pair's failover and the network's load balancing combine) and one producer-facing broker fanning out
to consumer-facing brokers.

Every broker that is not part of a master/slave pair is a group of one named after its node, so
that ``cluster.failover_uri("amq3")`` and a workload pinned to ``"amq3"`` both mean that broker.
"""

from __future__ import annotations

from typing import Literal

from harness.topology.model import (
    BrokerSettings,
    DestinationPolicy,
    JdbcStore,
    LockSettings,
    MasterSlaveGroup,
    Topology,
)
from harness.topology.network import NetworkConnector

NetworkShape = Literal["mesh", "line"]
CombinedStore = Literal["shared_file", "jdbc"]

# Lock settings of every group here: poll and check the lock each second (see presets.shared_file).
_LOCK = LockSettings(acquire_sleep_ms=1000, keepalive_ms=1000)


def _settings(
    broker: BrokerSettings | None, replay_when_no_consumers: bool | None, audit: bool | None
) -> BrokerSettings:
    settings = broker or BrokerSettings()
    if replay_when_no_consumers is None and audit is None:
        return settings
    policy = DestinationPolicy(queue=">", replay_when_no_consumers=replay_when_no_consumers, enable_audit=audit)
    return BrokerSettings(
        connector=settings.connector,
        authentication=settings.authentication,
        redelivery=settings.redelivery,
        policies=(*settings.policies, policy),
    )


def network(
    brokers: int = 3,
    discovery: Literal["static", "multicast"] = "static",
    *,
    duplex: bool = True,
    ttl: int | None = None,
    replay_when_no_consumers: bool | None = None,
    audit: bool | None = None,
    shape: NetworkShape = "mesh",
    bridge_links: bool = False,
    name: str | None = None,
    broker: BrokerSettings | None = None,
) -> Topology:
    """``brokers`` standalone brokers amq1..amqN bridged into one network.

    static, duplex: each broker has one duplex connector to every broker before it (three
    brokers: amq3 -> static:(amq1,amq2)). static, not duplex: each broker has a connector
    to every other one (both ends configured: a non-duplex connector carries messages one way only).
    ``shape="line"`` bridges only neighbours (amq1 - amq2 - amq3), where ``ttl`` decides whether a
    message gets from one end to the other. multicast: every broker advertises itself and bridges to
    whatever it discovers. ``ttl`` is networkTTL; ``replay_when_no_consumers`` and
    ``audit`` set the queues' conditionalNetworkBridgeFilterFactory and enableAudit.
    None leaves the vendor's default. ``bridge_links`` runs each bridge through a link proxy named
    "<from>-><to>" for bridge faults (static discovery only).
    """
    if brokers < 2:
        raise ValueError(f"network: a network needs at least 2 brokers, got {brokers}")
    if discovery not in ("static", "multicast"):
        raise ValueError(f"network: discovery must be 'static' or 'multicast', not {discovery!r}")
    if shape not in ("mesh", "line"):
        raise ValueError(f"network: shape must be 'mesh' or 'line', not {shape!r}")
    if discovery == "multicast" and shape != "mesh":
        raise ValueError("network: multicast discovery bridges every broker it finds: shape must be 'mesh'")
    nodes = tuple(f"amq{i}" for i in range(1, brokers + 1))
    settings = _settings(broker, replay_when_no_consumers, audit)
    groups = tuple(MasterSlaveGroup(name=n, nodes=(n,), lock=_LOCK, broker=settings) for n in nodes)
    options = {"duplex": duplex, "network_ttl": ttl}
    connectors: list[NetworkConnector] = []
    if discovery == "multicast":
        connectors = [NetworkConnector(node=n, discovery="multicast", network_ttl=ttl) for n in nodes]
    else:
        for i, node in enumerate(nodes):
            if shape == "line":
                targets = nodes[max(0, i - 1) : i] if duplex else nodes[max(0, i - 1) : i] + nodes[i + 1 : i + 2]
            else:
                targets = nodes[:i] if duplex else tuple(n for n in nodes if n != node)
            if targets:
                connectors.append(NetworkConnector(node=node, targets=targets, **options))  # type: ignore[arg-type]
    label = name or f"network({brokers}, {discovery}{', line' if shape == 'line' else ''})"
    return Topology(name=label, groups=groups, connectors=tuple(connectors), bridge_links=bridge_links)


def combined(
    pairs: int = 2,
    store: CombinedStore = "shared_file",
    *,
    db: Literal["postgresql", "mariadb"] = "postgresql",
    replay_when_no_consumers: bool | None = None,
    audit: bool | None = None,
    bridge_links: bool = False,
    name: str | None = None,
) -> Topology:
    """Master/slave pairs bridged into a network by duplex connectors.

    Pair k is ms-broker-<letter> (ms-broker-a: amq1+amq2, ms-broker-b: amq3+amq4, ...), each on its
    own store (a shared kahaDB directory, or its own database with ``store="jdbc"``). Every node of
    a pair carries ``masterslave:(its own pair)`` with duplex="false" (a
    bridge from a broker to itself, which ActiveMQ drops as a loop-back), and every node of an
    earlier pair a duplex ``static:(the later pair's two nodes)`` connector named after that pair.
    """
    if pairs < 2:
        raise ValueError(f"combined: bridging needs at least 2 master/slave pairs, got {pairs}")
    if store not in ("shared_file", "jdbc"):
        raise ValueError(f"combined: store must be 'shared_file' or 'jdbc', not {store!r}")
    settings = _settings(None, replay_when_no_consumers, audit)
    groups: list[MasterSlaveGroup] = []
    for k in range(pairs):
        members = (f"amq{2 * k + 1}", f"amq{2 * k + 2}")
        group_name = f"ms-broker-{chr(ord('a') + k)}"
        if store == "jdbc":
            groups.append(
                MasterSlaveGroup(group_name, members, store="jdbc", lock=_LOCK, broker=settings, jdbc=JdbcStore(db))
            )
        else:
            groups.append(MasterSlaveGroup(group_name, members, lock=_LOCK, broker=settings))
    connectors: list[NetworkConnector] = []
    for k, group in enumerate(groups):
        for node in group.nodes:
            connectors.append(NetworkConnector(node=node, targets=group.nodes, discovery="masterslave", duplex=False))
            for later in groups[k + 1 :]:
                connectors.append(NetworkConnector(node=node, targets=later.nodes, name=later.name, duplex=True))
    return Topology(
        name=name or f"combined({pairs}, {store})",
        groups=tuple(groups),
        connectors=tuple(connectors),
        bridge_links=bridge_links,
    )


def fan_out(
    consumer_brokers: int = 2,
    producer_pair: bool = True,
    *,
    ttl: int | None = None,
    bridge_links: bool = False,
    uri_options: tuple[tuple[str, str], ...] = (),
    name: str | None = None,
) -> Topology:
    """One producer-facing broker fanning out to consumer-facing brokers over static connectors.

    The producer side is ``producer`` (amq1, plus amq2 as its slave with ``producer_pair``); each
    consumer-facing broker (amq3, amq4, ...; amq2, amq3, ... without a pair) carries one duplex
    connector to the producer side: ``masterslave:(amq1,amq2)`` (failover to whichever is master, so that
    the bridge follows the pair) or ``static:(amq1)``. ``bridge_links``: each bridge through a link proxy
    ("amq4->amq1", "amq4->amq2", ...) for bridge faults. ``uri_options``: on every connector's URI
    (``(("maxReconnectDelay", "1000"),)``).
    """
    if consumer_brokers < 1:
        raise ValueError(f"fan_out: needs at least 1 consumer broker, got {consumer_brokers}")
    producers = ("amq1", "amq2") if producer_pair else ("amq1",)
    first = len(producers) + 1
    consumers = tuple(f"amq{i}" for i in range(first, first + consumer_brokers))
    groups = (
        MasterSlaveGroup("producer", producers, lock=_LOCK),
        *(MasterSlaveGroup(n, (n,), lock=_LOCK) for n in consumers),
    )
    discovery: Literal["masterslave", "static"] = "masterslave" if producer_pair else "static"
    connectors = tuple(
        NetworkConnector(
            node=n, targets=producers, discovery=discovery, duplex=True, network_ttl=ttl, uri_options=uri_options
        )
        for n in consumers
    )
    label = name or f"fan_out({consumer_brokers}{', producer pair' if producer_pair else ''})"
    return Topology(name=label, groups=groups, connectors=connectors, bridge_links=bridge_links)
