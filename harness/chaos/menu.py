"""Which faults a topology can take on a runtime: the menu a chaos schedule is drawn from.

Every fault the ``Faults`` vocabulary offers appears here with the targets it can hit in this topology
and how long it may last: process faults on any group, lock stealing on a shared-file store, database
outages, killed sessions and database-link faults on JDBC groups, ZooKeeper faults on replicated
groups, clients cut off a node with client links, bridge faults with bridge links, partitions where
the runtime can make them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UnknownName
from harness.topology.model import MasterSlaveGroup, Topology


@dataclass(frozen=True)
class Target:
    target: str
    group: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class FaultChoice:
    """A fault kind (a Faults method name), the targets it may take, and the range of its duration
    (both 0: an instantaneous fault)."""

    kind: str
    targets: tuple[Target, ...]
    min_s: float
    max_s: float
    params: Mapping[str, Any] = field(default_factory=dict)


# Every kind the generator knows, so that a scenario's exclusions can be checked for typos.
KINDS = (
    "kill",
    "pause",
    "restart",
    "partition",
    "steal_lock",
    "database_outage",
    "kill_db_sessions",
    "cut_link",
    "blackhole",
    "slow_link",
    "reset_peer",
    "kill_zookeeper",
    "pause_zookeeper",
    "cut_zookeeper",
    "isolate_clients",
)
# Faults that act on a broker's process: two of them never overlap on one node (a paused node cannot
# be killed and resumed in a meaningful order).
PROCESS_KINDS = frozenset({"kill", "pause", "restart", "partition"})


def _node_targets(group: MasterSlaveGroup) -> tuple[Target, ...]:
    roles = [Target("master", group.name)]
    if len(group.nodes) > 1:
        roles.append(Target("slave", group.name))
    return (*roles, *(Target("node", group.name, node) for node in group.nodes))


def _group_menu(group: MasterSlaveGroup, runtime_faults: frozenset[str]) -> list[FaultChoice]:
    nodes = _node_targets(group)
    roles = tuple(t for t in nodes if t.target != "node")
    menu = [
        FaultChoice("kill", nodes, 1.0, 8.0),
        FaultChoice("pause", nodes, 1.0, 6.0),
        FaultChoice("restart", nodes, 1.0, 6.0),
    ]
    if "partition" in runtime_faults:
        menu.append(FaultChoice("partition", nodes, 1.0, 6.0))
    if group.store == "shared-file":
        menu.append(FaultChoice("steal_lock", (Target("store", group.name),), 0.0, 0.0))
    if group.store == "jdbc":
        menu += [
            FaultChoice("database_outage", (Target("database", group.name),), 2.0, 6.0),
            FaultChoice("kill_db_sessions", roles, 0.0, 0.0),
            FaultChoice("cut_link", nodes, 1.0, 6.0),
            FaultChoice("blackhole", nodes, 1.0, 6.0),
            FaultChoice("slow_link", nodes, 1.0, 6.0, {"latency_ms": 200}),
            FaultChoice("reset_peer", nodes, 1.0, 5.0, {"after_ms": 500}),
        ]
    if group.store == "replicated":
        menu += [
            FaultChoice("kill_zookeeper", (Target("zookeeper", group.name),), 1.0, 6.0, {"count": 1}),
            FaultChoice("pause_zookeeper", (Target("zookeeper", group.name),), 1.0, 6.0, {"count": 1}),
            FaultChoice("cut_zookeeper", nodes, 1.0, 6.0),
        ]
    return menu


def _bridge_links(topology: Topology) -> tuple[str, ...]:
    """The link proxies a topology with ``bridge_links`` puts on each bridge (named "<from>-><to>")."""
    if not topology.bridge_links:
        return ()
    return tuple(f"{c.node}->{t}" for c in topology.connectors if c.discovery != "multicast" for t in c.targets)


def fault_menu(
    topology: Topology, runtime_faults: Iterable[str] = (), exclude: Iterable[str] = ()
) -> list[FaultChoice]:
    """Every fault ``topology`` supports on a runtime that can inject ``runtime_faults`` (e.g.
    {"partition"} in containers), less the kinds in ``exclude``."""
    excluded = set(exclude)
    unknown = excluded - set(KINDS)
    if unknown:
        raise UnknownName("chaos fault kind", sorted(unknown)[0], KINDS)
    runtime = frozenset(runtime_faults)
    menu: list[FaultChoice] = []
    for group in topology.groups:
        menu += _group_menu(group, runtime)
    if topology.client_links:
        every = tuple(t for g in topology.groups for t in _node_targets(g))
        menu.append(FaultChoice("isolate_clients", every, 1.0, 6.0))
    bridges = tuple(Target("link", None, name) for name in _bridge_links(topology))
    if bridges:
        menu += [
            FaultChoice("cut_link", bridges, 1.0, 6.0),
            FaultChoice("blackhole", bridges, 1.0, 6.0),
            FaultChoice("slow_link", bridges, 1.0, 6.0, {"latency_ms": 200}),
        ]
    return [choice for choice in menu if choice.kind not in excluded]
