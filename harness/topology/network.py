"""Networks of brokers: the ``<networkConnector>`` elements a node carries, as plain data.

A connector names the nodes it bridges to; the cluster resolves them to addresses when it renders
each node's activemq.xml. None leaves an attribute at the vendor's default (ActiveMQ 5.17: duplex
false, networkTTL 1, conduitSubscriptions true, dynamicOnly false, decreaseNetworkConsumerPriority
false, prefetchSize 1000, name "NC"; static: reconnects after 1000 ms, backing off to 30000 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# static:(tcp://a,tcp://b): one bridge to each target that answers.
# masterslave:(tcp://a,tcp://b): one bridge to whichever of a master/slave pair is master
#   (ActiveMQ turns it into static:(failover:(a,b)?randomize=false&maxReconnectAttempts=0)).
# multicast: targets are found by discovery (the transport connector's discoveryUri), not named.
Discovery = Literal["static", "masterslave", "multicast"]

# The multicast group used unless a topology names its own. ActiveMQ's multicast://default is
# 239.255.2.3:6155 with group "default": a unique group keeps one cluster's brokers from
# discovering another run's on the same machine.
MULTICAST_ADDRESS = "239.255.2.3:6155"


@dataclass(frozen=True)
class NetworkConnector:
    """One ``<networkConnector>`` on node ``node`` bridging to ``targets`` (node names)."""

    node: str
    targets: tuple[str, ...] = ()
    discovery: Discovery = "static"
    name: str | None = None
    duplex: bool | None = None
    network_ttl: int | None = None
    conduit_subscriptions: bool | None = None
    dynamic_only: bool | None = None
    decrease_network_consumer_priority: bool | None = None
    prefetch_size: int | None = None
    # Queue names or wildcards (">" for all); rendered as <queue physicalName="..."/>.
    excluded: tuple[str, ...] = ()
    dynamically_included: tuple[str, ...] = ()
    statically_included: tuple[str, ...] = ()
    # static:/masterslave: URI options, ActiveMQ's names and values as written, e.g.
    # (("maxReconnectDelay", "1000"),): the discovery agent's reconnect settings, on both vendors.
    uri_options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.discovery not in ("static", "masterslave", "multicast"):
            raise ValueError(
                f"network connector on {self.node}: discovery must be static, masterslave or multicast, "
                f"not {self.discovery!r}"
            )
        if self.discovery == "multicast" and self.targets:
            raise ValueError(f"network connector on {self.node}: a multicast connector finds its peers, name none")
        if self.discovery != "multicast" and not self.targets:
            raise ValueError(f"network connector on {self.node}: a {self.discovery} connector needs targets")
        if self.discovery == "masterslave" and len(self.targets) != 2:
            raise ValueError(
                f"network connector on {self.node}: masterslave: takes exactly two targets (a master/slave pair), "
                f"got {len(self.targets)}"
            )
        if self.discovery == "multicast" and self.uri_options:
            raise ValueError(f"network connector on {self.node}: uri_options are for static: and masterslave:")
        if self.network_ttl is not None and self.network_ttl < 1:
            raise ValueError(
                f"network connector on {self.node}: network_ttl must be at least 1, got {self.network_ttl}"
            )
        if self.prefetch_size is not None and self.prefetch_size < 1:
            raise ValueError(
                f"network connector on {self.node}: prefetch_size must be at least 1, got {self.prefetch_size}"
            )

    def attributes(self) -> dict[str, object]:
        """The element's attributes other than uri, as ActiveMQ names them (None: not written)."""
        return {
            "name": self.name,
            "duplex": self.duplex,
            "networkTTL": self.network_ttl,
            "conduitSubscriptions": self.conduit_subscriptions,
            "dynamicOnly": self.dynamic_only,
            "decreaseNetworkConsumerPriority": self.decrease_network_consumer_priority,
            "prefetchSize": self.prefetch_size,
        }

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"node": self.node, "discovery": self.discovery}
        if self.targets:
            described["targets"] = list(self.targets)
        described.update({k: v for k, v in self.attributes().items() if v is not None})
        for key, names in (
            ("excludedDestinations", self.excluded),
            ("dynamicallyIncludedDestinations", self.dynamically_included),
            ("staticallyIncludedDestinations", self.statically_included),
        ):
            if names:
                described[key] = list(names)
        if self.uri_options:
            described["uri_options"] = dict(self.uri_options)
        return described


@dataclass(frozen=True)
class BridgeAddress:
    """Where a node's inter-broker (OpenWire for ActiveMQ) connector listens, where peers reach it, and
    where a process on this machine reaches it (the bridges' link proxies; the peers' address unless
    the node runs in a container)."""

    listen_host: str
    listen_port: int
    peer_host: str
    peer_port: int
    outside_host: str | None = None
    outside_port: int | None = None

    @property
    def outside(self) -> tuple[str, int]:
        """Where the harness's link proxies reach the listener."""
        if self.outside_host is None or self.outside_port is None:
            return self.peer_host, self.peer_port
        return self.outside_host, self.outside_port

    @property
    def peer_uri(self) -> str:
        return f"tcp://{self.peer_host}:{self.peer_port}"


def connector_uri(connector: NetworkConnector, addresses: dict[str, BridgeAddress], multicast_group: str) -> str:
    """The connector's uri attribute, with its targets resolved to the addresses peers reach them at."""
    if connector.discovery == "multicast":
        return multicast_uri(multicast_group)
    missing = [t for t in connector.targets if t not in addresses]
    if missing:
        raise ValueError(f"network connector on {connector.node}: no bridge address for {', '.join(missing)}")
    inner = ",".join(addresses[t].peer_uri for t in connector.targets)
    query = "&".join(f"{key}={value}" for key, value in connector.uri_options)
    return f"{connector.discovery}:({inner})" + (f"?{query}" if query else "")


def multicast_uri(group: str) -> str:
    return f"multicast://{MULTICAST_ADDRESS}?group={group}"
