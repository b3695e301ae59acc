"""Plain data describing a cluster: master/slave groups of nodes sharing one store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StoreKind = Literal["shared-file"]


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
class MasterSlaveGroup:
    """Nodes that share one store; the lock on the store decides which one is master."""

    name: str
    nodes: tuple[str, ...]
    store: StoreKind = "shared-file"
    lock: LockSettings = field(default_factory=LockSettings)


@dataclass(frozen=True)
class Topology:
    name: str
    groups: tuple[MasterSlaveGroup, ...]

    def __post_init__(self) -> None:
        names = [n for g in self.groups for n in g.nodes]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"topology {self.name}: node names used twice: {', '.join(duplicated)}")
        if not names:
            raise ValueError(f"topology {self.name}: has no nodes")

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(n for g in self.groups for n in g.nodes)

    def group_of(self, node: str) -> MasterSlaveGroup:
        for group in self.groups:
            if node in group.nodes:
                return group
        raise KeyError(f"topology {self.name}: no node named {node!r} (nodes: {', '.join(self.nodes)})")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "groups": [
                {"name": g.name, "nodes": list(g.nodes), "store": g.store, "lock": g.lock.describe()}
                for g in self.groups
            ],
        }
