"""Faults on a node's process: kill -9, pause (SIGSTOP/SIGCONT), graceful restart."""

from __future__ import annotations

from harness.faults.base import Fault
from harness.runtime.base import Node


class Kill(Fault):
    """SIGKILL the node; healing starts it again (it must come back as a slave)."""

    kind = "kill"

    def __init__(self, node: Node, restart_on_heal: bool = True) -> None:
        super().__init__(node.name, signal="SIGKILL")
        self.node = node
        self.restart_on_heal = restart_on_heal

    def _inject(self) -> None:
        self.node.kill()

    def _heal(self) -> None:
        if self.restart_on_heal and not self.node.alive:
            self.node.start()


class Pause(Fault):
    """SIGSTOP the node: it keeps its sockets and its lock but answers nothing; SIGCONT heals."""

    kind = "pause"

    def __init__(self, node: Node) -> None:
        super().__init__(node.name, signal="SIGSTOP")
        self.node = node

    def _inject(self) -> None:
        self.node.pause()

    def _heal(self) -> None:
        self.node.resume()


class Restart(Fault):
    """Graceful stop (SIGTERM) of the node; healing starts it again."""

    kind = "restart"

    def __init__(self, node: Node) -> None:
        super().__init__(node.name, signal="SIGTERM")
        self.node = node

    def _inject(self) -> None:
        self.node.stop()

    def _heal(self) -> None:
        if not self.node.alive:
            self.node.start()
