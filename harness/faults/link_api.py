"""The link faults of a scenario's ``faults`` fixture: every fault that breaks a proxied link, by node or
by link name, each injected at once and healed on ``with`` exit.

A target is a node of a JDBC group (its link to the database), the name of a link the topology made
with ``cluster.link_proxy(name, ...)`` (a bridge, a ZooKeeper session ...), or a link itself
(``cluster.client_link(node)``, the clients' link to a node). ``isolate_clients(node)``
acts on the clients' link to a node: mark the scenario ``@pytest.mark.needs_fault("isolate_clients")``
(its topology then gets the proxies; ``client_links=True`` does the same by hand). Bridge faults name
the bridge ("amq3->amq1") and need ``needs_fault("bridge_link")`` (or ``bridge_links=True``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.faults.base import Fault
from harness.faults.links import (
    Bandwidth,
    Blackhole,
    LimitData,
    LinkCut,
    ResetPeer,
    Slicer,
    SlowLink,
    Streams,
)
from harness.runtime.base import Node
from harness.toxiproxy.links import ProxiedLink

if TYPE_CHECKING:
    from harness.cluster import Cluster

# A node of a JDBC group (its database link), a link's name (cluster.link_proxy), or the link itself.
LinkTarget = Node | str | ProxiedLink


class LinkFaults:
    """Mixed into the fault vocabulary; needs ``cluster`` and ``_inject``."""

    cluster: Cluster

    def _inject(self, fault: Fault) -> Fault:
        raise NotImplementedError

    def _link(self, target: LinkTarget) -> tuple[str, ProxiedLink]:
        if isinstance(target, ProxiedLink):
            return str(target), target
        name = target if isinstance(target, str) else target.name
        if name in self.cluster.links or name in self.cluster.topology.nodes:
            return name, self.cluster.link(name)  # a node: its database link
        return name, self.cluster.named_link(name)

    def cut_link(self, target: LinkTarget, streams: Streams = "both") -> Fault:
        """Cut a link: both ways, the proxy goes down (connections closed, new ones refused); one way only
        (``streams="upstream"``), what is sent that way vanishes while the other way still flows."""
        name, link = self._link(target)
        if streams == "both":
            return self._inject(LinkCut(name, link))
        return self._inject(Blackhole(name, link, streams))

    def slow_link(
        self, target: LinkTarget, latency_ms: float, jitter_ms: float = 0, streams: Streams = "both"
    ) -> Fault:
        """Delay every chunk on the link by ``latency_ms`` (± ``jitter_ms``), each way by default."""
        name, link = self._link(target)
        return self._inject(SlowLink(name, link, latency_ms, jitter_ms, streams))

    def blackhole(self, target: LinkTarget, streams: Streams = "both") -> Fault:
        """Bytes vanish, connections stay open (a hung link while both ends look healthy)."""
        name, link = self._link(target)
        return self._inject(Blackhole(name, link, streams))

    def bandwidth(self, target: LinkTarget, rate_kb_s: int, streams: Streams = "both") -> Fault:
        name, link = self._link(target)
        return self._inject(Bandwidth(name, link, rate_kb_s, streams))

    def reset_peer(self, target: LinkTarget, after_ms: int = 0, streams: Streams = "downstream") -> Fault:
        """Every connection is reset (RST) ``after_ms`` after bytes cross it, until healed."""
        name, link = self._link(target)
        return self._inject(ResetPeer(name, link, after_ms, streams))

    def slicer(
        self,
        target: LinkTarget,
        average_size: int,
        size_variation: int = 0,
        delay_us: int = 0,
        streams: Streams = "both",
    ) -> Fault:
        name, link = self._link(target)
        return self._inject(Slicer(name, link, average_size, size_variation, delay_us, streams))

    def limit_data(self, target: LinkTarget, limit_bytes: int, streams: Streams = "both") -> Fault:
        """Each connection is closed once ``limit_bytes`` crossed it (a link that dies mid-transfer)."""
        name, link = self._link(target)
        return self._inject(LimitData(name, link, limit_bytes, streams))

    def isolate_clients(self, node: Node | str, streams: Streams = "both") -> Fault:
        """Cut the clients off a node (its broker still sees its store and its peers); with
        ``streams="upstream"`` only what clients send is lost (an asymmetric cut)."""
        name = node if isinstance(node, str) else node.name
        link = self.cluster.client_link(name)
        if streams == "both":
            return self._inject(LinkCut(str(link), link))
        return self._inject(Blackhole(str(link), link, streams))
