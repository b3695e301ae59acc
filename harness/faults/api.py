"""The fault vocabulary a scenario or a library user speaks: ``faults.kill(node)``, ``faults.cut_link(node)``...

Each call injects one fault through the Nemesis (which records it in the history) and returns it;
the fault heals on ``with`` exit, on ``heal()``, or when the Nemesis heals what is left.
"""

from __future__ import annotations

import time

from harness.cluster import Cluster
from harness.errors import InvalidOption, require_non_negative
from harness.faults.base import Fault, Nemesis
from harness.faults.database import DatabaseOutage, SessionKill
from harness.faults.link_api import LinkFaults
from harness.faults.lockfile import LockHolder, LockSteal
from harness.faults.network import Partition
from harness.faults.process import Kill, Pause, Restart
from harness.faults.zookeeper import ZooKeeperCut, ZooKeeperKill, ZooKeeperPause
from harness.runtime.base import Node


class Faults(LinkFaults):
    """The fault vocabulary of a scenario: each call injects at once and heals on ``with`` exit.

    Link faults (cut_link, slow_link, blackhole, bandwidth, reset_peer, slicer, limit_data,
    isolate_clients) come from LinkFaults.
    """

    def __init__(self, nemesis: Nemesis, cluster: Cluster) -> None:
        self.nemesis = nemesis
        self.cluster = cluster

    def _inject(self, fault: Fault) -> Fault:
        return self.nemesis.inject(fault)

    @staticmethod
    def hold_for(seconds: float) -> None:
        """Let the run go on with the faults as they are for ``seconds``: a fault's duration, or the time
        its effect takes to show (a lease running out, a keep-alive check noticing a stolen lock).
        Traffic and role probes go on meanwhile."""
        time.sleep(seconds)

    def kill(self, node: Node | str, restart_on_heal: bool = True) -> Fault:
        """kill -9; healing restarts the node."""
        return self._inject(Kill(self.cluster.node(node), restart_on_heal=restart_on_heal))

    def pause(self, node: Node | str) -> Fault:
        return self._inject(Pause(self.cluster.node(node)))

    def restart(self, node: Node | str) -> Fault:
        return self._inject(Restart(self.cluster.node(node)))

    def partition(self, node: Node | str) -> Fault:
        """Cut the node off from the cluster's network (docker runtime); healing reconnects it."""
        return self._inject(Partition(self.cluster.node(node)))

    def steal_lock(self, group: str | None = None, how: str = "delete") -> Fault:
        if how not in ("delete", "replace"):
            raise InvalidOption("faults.steal_lock", "how", "'delete' or 'replace'", how)
        return self._inject(LockSteal(self.cluster.group(group).name, self.cluster.lock_path(group), how))  # type: ignore[arg-type]

    def hold_lock(self, group: str | None = None, steal: bool = False) -> LockHolder:
        """An outside process takes the store's lock file (deleting it first with ``steal``) until healed."""
        fault = LockHolder(self.cluster.group(group).name, self.cluster.lock_path(group), steal=steal)
        self._inject(fault)
        return fault

    # -- JDBC groups -----------------------------------------------------------------------------
    def database_outage(self, group: str | None = None, down_for_s: float | None = None) -> DatabaseOutage:
        """Stop the group's database server at once; it starts again after ``down_for_s`` or on heal."""
        require_non_negative("faults.database_outage", down_for_s=down_for_s)
        server, _ = self.cluster.database(group)
        # A database container restarted by the outage may come back on another address.
        fault = DatabaseOutage(server, down_for_s, after_start=lambda: self.cluster.repoint_database_links(group))
        self._inject(fault)
        return fault

    def kill_db_sessions(self, node: Node | str) -> Fault:
        """End the node's sessions on its database (its lock connection included)."""
        node = self.cluster.node(node)
        group = self.cluster.topology.group_of(node.name).name
        server, database = self.cluster.database(group)
        fault = self._inject(SessionKill(node.name, server, database, self.cluster.link(node.name)))
        fault.heal()  # instantaneous: nothing to undo, and the node's later confirmations count
        return fault

    # -- replicated groups -----------------------------------------------------------------------
    def _zookeeper_nodes(self, group: str | None, count: int, leader_first: bool) -> list[str]:
        ensemble = self.cluster.zookeeper(group)
        if not 1 <= count <= ensemble.size:
            raise ValueError(f"zookeeper fault: count must be between 1 and {ensemble.size}, got {count}")
        modes = ensemble.modes()
        # The leader first when asked (the harder case: a new leader must be elected), else followers.
        ordered = sorted(modes, key=lambda name: (modes[name] == "leader") != leader_first)
        return ordered[:count]

    def kill_zookeeper(self, count: int = 1, group: str | None = None, leader: bool = True) -> Fault:
        """kill -9 of ``count`` ZooKeeper nodes of the group's ensemble (its leader among them unless
        ``leader=False``); a majority leaves the ensemble without a quorum. Healing starts them again."""
        ensemble = self.cluster.zookeeper(group)
        return self._inject(ZooKeeperKill(ensemble, self._zookeeper_nodes(group, count, leader)))

    def pause_zookeeper(self, count: int = 1, group: str | None = None, leader: bool = True) -> Fault:
        """SIGSTOP of ``count`` ZooKeeper nodes; healing resumes them."""
        ensemble = self.cluster.zookeeper(group)
        return self._inject(ZooKeeperPause(ensemble, self._zookeeper_nodes(group, count, leader)))

    def cut_zookeeper(self, node: Node) -> Fault:
        """Cut one broker from every ZooKeeper node (its peers and clients still reach it)."""
        links = self.cluster.zookeeper_links.get(node.name)
        if not links:
            raise ValueError(f"cut_zookeeper: node {node.name} is not in a replicated group")
        return self._inject(ZooKeeperCut(node.name, links))
