"""The interface every runtime's nodes share."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.vendors.base import LaunchSpec

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


class Runtime(Protocol):
    name: str
    host: str

    def allocate_port(self) -> int: ...

    def node_dir(self, node: str) -> Path: ...

    def shared_dir(self, name: str) -> Path: ...

    def add_node(self, name: str, launch: LaunchSpec, stomp_port: int) -> Node: ...

    def close(self) -> None: ...
