"""Faults on a replicated group's ZooKeeper ensemble: nodes killed or paused (one: the ensemble keeps
its quorum; a majority: it has none), and one broker cut from every ZooKeeper node while it still
reaches its peers and clients."""

from __future__ import annotations

from collections.abc import Sequence

from harness.faults.base import Fault
from harness.services import ZooKeeperEnsemble
from harness.toxiproxy.links import ProxiedLink


class ZooKeeperKill(Fault):
    """kill -9 of the named ZooKeeper nodes; healing starts them again (they rejoin from their data)."""

    kind = "zookeeper-kill"

    def __init__(self, ensemble: ZooKeeperEnsemble, names: Sequence[str]) -> None:
        if not names:
            raise ValueError("zookeeper kill: name at least one ZooKeeper node")
        super().__init__(",".join(names), nodes=list(names), ensemble=ensemble.size)
        self.ensemble = ensemble
        self.names = tuple(names)

    def _inject(self) -> None:
        for name in self.names:
            self.ensemble.kill(name)

    def _heal(self) -> None:
        for name in self.names:
            self.ensemble.node(name).start()
        self.ensemble.wait_serving(60)


class ZooKeeperPause(Fault):
    """SIGSTOP of the named ZooKeeper nodes: their clients' connections hang instead of closing."""

    kind = "zookeeper-pause"

    def __init__(self, ensemble: ZooKeeperEnsemble, names: Sequence[str]) -> None:
        if not names:
            raise ValueError("zookeeper pause: name at least one ZooKeeper node")
        super().__init__(",".join(names), nodes=list(names), ensemble=ensemble.size)
        self.ensemble = ensemble
        self.names = tuple(names)

    def _inject(self) -> None:
        for name in self.names:
            self.ensemble.node(name).pause()

    def _heal(self) -> None:
        for name in self.names:
            self.ensemble.node(name).resume()


class ZooKeeperCut(Fault):
    """Take down one broker's proxied links to every ZooKeeper node (connections closed, new ones
    refused) until healed; its replication links and client connections are untouched."""

    kind = "zookeeper-cut"

    def __init__(self, node: str, links: Sequence[ProxiedLink]) -> None:
        super().__init__(node, links=[str(link) for link in links])
        self.links = tuple(links)

    def _inject(self) -> None:
        for link in self.links:
            link.set_enabled(False)

    def _heal(self) -> None:
        for link in self.links:
            link.set_enabled(True)
