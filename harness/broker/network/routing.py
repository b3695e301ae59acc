"""The routing decisions of a bridge, as pure functions: which demand a broker advertises to a peer,
whether a message may go to a peer, which queues a connector bridges, and the duplicate audit.

Demand: a consumer is advertised with ``hops``, the number of bridges between the advertising broker
and the consumer (0 for its own consumers), and ``path``, the brokers the demand went through from
the consumer's broker on. A peer receiving it would need ``hops + 1`` bridges to reach the consumer:
it is advertised only within networkTTL (ActiveMQ's consumerTTL) and never to a broker on its path.

Messages: a message's broker path lists the brokers it was forwarded from. A broker forwards it to a
peer only while the path is shorter than networkTTL (each bridge is one hop) and the peer is not on
it, unless the queue replays: then it may go back along its path when this broker has no consumer of
its own (conditionalNetworkBridgeFilterFactory replayWhenNoConsumers).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.broker.config.network import NetworkConnectorConfig
from harness.broker.core.policy import DestinationKind, DestinationPattern
from harness.broker.message import BROKER_PATH_HEADER, QUEUE_PREFIX

# Ids of messages that came over a bridge, remembered per broker (a bounded window).
DEFAULT_AUDIT_SIZE = 100_000


def broker_path(headers: Mapping[str, str]) -> tuple[str, ...]:
    raw = headers.get(BROKER_PATH_HEADER, "")
    return tuple(name for name in raw.split(",") if name)


def extended_path(path: tuple[str, ...], broker: str) -> str:
    """The header value of a message leaving ``broker`` over a bridge."""
    return ",".join((*path, broker))


@dataclass(frozen=True)
class Demand:
    """Consumers of one queue as advertised over a bridge."""

    hops: int
    count: int
    path: tuple[str, ...]


@dataclass(frozen=True)
class ConsumerView:
    """One consumer of a queue as routing sees it: a client's (``via`` None, 0 hops) or a bridge's
    network consumer standing for the demand ``via`` advertised."""

    via: str | None = None
    hops: int = 0
    path: tuple[str, ...] = ()


def advertised(local: str, peer: str, ttl: int, consumers: Mapping[str, Iterable[ConsumerView]]) -> dict[str, Demand]:
    """The demand ``local`` advertises to ``peer`` per queue: its own consumers, and the demand other
    peers advertised to it while within ``ttl`` and not on a path through ``peer``."""
    out: dict[str, Demand] = {}
    for queue, views in consumers.items():
        best: Demand | None = None
        for view in views:
            if view.via == peer or peer in view.path:
                continue  # a peer's own demand never goes back to it
            if view.hops + 1 > ttl:
                continue
            path = (*view.path, local)
            if best is None or view.hops < best.hops:
                best = Demand(view.hops, 1, path)
            elif view.hops == best.hops:
                best = Demand(best.hops, best.count + 1, best.path)
        if best is not None:
            out[queue] = best
    return out


def may_forward(path: tuple[str, ...], peer: str, ttl: int, replay: bool) -> bool:
    """May a message whose broker path is ``path`` go to ``peer``? ``replay``: the queue replays
    (replayWhenNoConsumers) and this broker has no consumer of its own."""
    if peer in path:
        return replay
    return len(path) < ttl


class QueueFilter:
    """Which queues a connector bridges: excludedDestinations win, then dynamicallyIncludedDestinations
    (when given, only those), and staticallyIncludedDestinations are forwarded without demand."""

    def __init__(self, connector: NetworkConnectorConfig) -> None:
        def patterns(names: tuple[str, ...]) -> tuple[DestinationPattern, ...]:
            return tuple(DestinationPattern(DestinationKind.QUEUE, n) for n in names)

        self._excluded = patterns(connector.excluded)
        self._dynamic = patterns(connector.dynamically_included)
        self._static = patterns(connector.statically_included)
        self.static_names = tuple(
            QUEUE_PREFIX + n
            for n in connector.statically_included
            if not DestinationPattern(DestinationKind.QUEUE, n).is_wildcard
        )

    def bridges(self, queue: str) -> bool:
        if not queue.startswith(QUEUE_PREFIX):
            return False  # temporary queues and topics stay on their broker
        if any(p.matches(queue) for p in self._excluded):
            return False
        if any(p.matches(queue) for p in self._static):
            return True
        return not self._dynamic or any(p.matches(queue) for p in self._dynamic)

    def static(self, queue: str) -> bool:
        return any(p.matches(queue) for p in self._static) and not any(p.matches(queue) for p in self._excluded)


class Audit:
    """Ids of messages this broker received over a bridge and still holds or had consumed here.

    A message forwarded again after its sender lost the receipt (the sender died, or the bridge
    failed between our store and its ack) is a duplicate: it is acknowledged and dropped. A message
    that left this broker over a bridge is forgotten, so that it may come back (a replay) without
    being taken for a duplicate, the trap of ActiveMQ's enableAudit with replayWhenNoConsumers.
    """

    def __init__(self, size: int = DEFAULT_AUDIT_SIZE) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.suppressed = 0

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, message_id: str) -> bool:
        """True for a duplicate (counted); otherwise remember the id."""
        if message_id in self._ids:
            self.suppressed += 1
            return True
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False

    def forget(self, message_id: str) -> None:
        self._ids.pop(message_id, None)
