"""The vendor interface and the registry of known vendors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.topology.model import Topology


class VendorUnavailable(RuntimeError):
    """The vendor's software is not installed here; the message says how to install it."""


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one node as a process: the command line, extra environment and directory.

    ``image`` names the container image the process runs in (docker runtime); None means this machine.
    """

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    image: str | None = None


class Vendor(Protocol):
    name: str

    def check_installed(self) -> None:
        """Raise VendorUnavailable, naming what is missing and how to install it."""

    def version(self) -> str: ...

    def unsupported_reason(self, topology: Topology) -> str | None:
        """None when the vendor can run the topology, else why not (reported as 'unsupported')."""

    def prepare(self, node_dir: Path, activemq_xml: str) -> LaunchSpec:
        """Lay out the node's directory (config, logs) and say how to launch it."""


def _registry() -> dict[str, Callable[[], Vendor]]:
    # Imported here so that loading the registry does not import every vendor's dependencies.
    from harness.vendors.activemq import ActiveMQ
    from harness.vendors.pybroker import PyBroker

    return {"pybroker": PyBroker, "activemq": ActiveMQ}


def vendor_names() -> list[str]:
    return sorted(_registry())


def get_vendor(name: str) -> Vendor:
    registry = _registry()
    if name not in registry:
        raise ValueError(f"unknown vendor {name!r} (known: {', '.join(sorted(registry))})")
    return registry[name]()
