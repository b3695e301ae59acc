"""Network faults on a node: a partition cuts one node off from its peers and from the clients."""

from __future__ import annotations

from harness.faults.base import Fault
from harness.runtime.base import Node, Partitionable


class FaultUnsupported(RuntimeError):
    """The runtime cannot inject this fault; the message says which runtime can."""


class Partition(Fault):
    """Disconnect the node from the cluster's network; healing reconnects it.

    In the docker runtime the node keeps running and keeps whatever it holds on its disks (a
    shared-file store is a bind mount, not a network file system, so its lock stays held).
    """

    kind = "partition"

    def __init__(self, node: Node) -> None:
        if not isinstance(node, Partitionable):
            raise FaultUnsupported(
                f"node {node.name} cannot be partitioned on this runtime (local nodes share the host's loopback): "
                "run with --runtime docker, and mark the scenario @pytest.mark.needs_fault('partition') so that "
                "other runtimes report it unsupported"
            )
        super().__init__(node.name, how="docker network disconnect")
        self.node: Partitionable = node

    def _inject(self) -> None:
        self.node.isolate()

    def _heal(self) -> None:
        self.node.rejoin()
