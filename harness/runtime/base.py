"""The interface every runtime's nodes share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.vendors.base import LaunchSpec

if TYPE_CHECKING:
    from harness.services.database import DatabaseRef, DatabaseServer
    from harness.services.zookeeper import ZooKeeperEnsemble
    from harness.topology.model import DatabaseKind
    from harness.topology.network import BridgeAddress

# Written into a node's log before each start, so that the current run's lines can be told apart.
START_MARKER = "---- amq-harness: starting node"


class NodeError(RuntimeError):
    """A node could not be started or controlled; the message names the node and points at its log."""


class Node(Protocol):
    name: str
    host: str
    stomp_port: int
    log_path: Path

    @property
    def endpoint(self) -> str: ...

    @property
    def alive(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self, timeout: float = 15.0) -> None: ...

    def kill(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def restart(self, timeout: float = 15.0) -> None: ...

    def logs(self, tail: int | None = None) -> str: ...


@runtime_checkable
class Partitionable(Protocol):
    """A node whose network can be cut (docker runtime): isolate() cuts it from peers and clients."""

    name: str

    def isolate(self) -> None: ...

    def rejoin(self) -> None: ...


class DatabaseProvider(Protocol):
    """Hands out a fresh database per JDBC group, on a server of the asked kind that it owns."""

    def create_database(self, kind: DatabaseKind) -> tuple[DatabaseServer, DatabaseRef]: ...

    def close(self) -> None: ...


class Runtime(Protocol):
    name: str
    host: str
    # Where brokers reach services the harness runs on this machine (their database links).
    services_host: str
    # Faults beyond the process ones (kill, pause, restart) this runtime's nodes can take, e.g. "partition".
    faults: frozenset[str]

    def allocate_port(self) -> int:
        """The port clients use to reach a new node, on ``host``."""

    def listen_address(self, client_port: int) -> tuple[str, int]:
        """Where a node reached at ``host:client_port`` listens, as written in its own configuration."""

    def bridge_address(self, node: str) -> BridgeAddress:
        """Where a node's inter-broker connector listens and where the other brokers reach it."""

    def node_dir(self, node: str) -> Path: ...

    def shared_dir(self, name: str) -> Path: ...

    def add_node(self, name: str, launch: LaunchSpec, stomp_port: int) -> Node: ...

    def databases(self) -> DatabaseProvider:
        """This runtime's database servers (processes, or containers on the cluster's network)."""

    def zookeeper_ensemble(self, size: int, group: str) -> ZooKeeperEnsemble:
        """A ZooKeeper ensemble of ``size`` nodes for a replicated group, not started yet (processes, or
        containers on the cluster's network)."""

    def close(self) -> None: ...
