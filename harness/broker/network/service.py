"""The network side of one master term: the listener accepting other brokers' bridges and the
connectors making this broker's own, each reconnecting like ActiveMQ's discovery agents.

static:(a,b): one bridge to each target, each retried on ActiveMQ's schedule (reconnect.py:
1 s, doubling up to 30 s; 1 s again after a bridge up 5 s fails). masterslave:(a,b): one bridge to
the first of the pair that accepts it (the master: a slave has no listener open). multicast: one bridge to each broker
heard on the group (discovery.py), dialled again after a failure as MulticastDiscoveryAgent does (rediscovery.py:
at the first advertisement 5 s after it). A bridge to this broker itself (a masterslave: connector naming
its own pair) is refused as a loop-back, as ActiveMQ drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from harness.broker.config.network import Endpoint, NetworkConfig, NetworkConnectorConfig
from harness.broker.core.broker import Broker
from harness.broker.network.bridge import Bridge, BridgeSettings, Registry
from harness.broker.network.discovery import MulticastAgent
from harness.broker.network.reconnect import ReconnectSchedule
from harness.broker.network.rediscovery import DiscoveredBroker
from harness.broker.network.routing import QueueFilter
from harness.broker.network.wire import frame_bytes
from harness.broker.stomp.frames import V1_2, Frame, FrameError, FrameParser

CONNECT_TIMEOUT_S = 2.0
HANDSHAKE_TIMEOUT_S = 2.0


class HandshakeRefused(Exception):
    """The other end refused the bridge (a loop-back, or not a pybroker bridge listener)."""


def _settings_headers(connector: NetworkConnectorConfig) -> dict[str, str]:
    return {
        "connector": connector.name,
        "duplex": "true" if connector.duplex else "false",
        "ttl": str(connector.network_ttl),
        "conduit": "true" if connector.conduit_subscriptions else "false",
        "decrease-priority": "true" if connector.decrease_network_consumer_priority else "false",
        "prefetch": str(connector.prefetch_size),
        "excluded": ",".join(connector.excluded),
        "dynamic": ",".join(connector.dynamically_included),
        "static": ",".join(connector.statically_included),
    }


def _settings_of(connector: NetworkConnectorConfig) -> BridgeSettings:
    return BridgeSettings(
        connector=connector.name,
        ttl=connector.network_ttl,
        conduit=connector.conduit_subscriptions,
        decrease_priority=connector.decrease_network_consumer_priority,
        prefetch=connector.prefetch_size,
        queues=QueueFilter(connector),
    )


def _connector_from_headers(headers: dict[str, str]) -> NetworkConnectorConfig:
    def names(key: str) -> tuple[str, ...]:
        return tuple(n for n in headers.get(key, "").split(",") if n)

    try:
        return NetworkConnectorConfig(
            discovery="static",
            name=headers.get("connector", "NC"),
            duplex=headers.get("duplex") == "true",
            network_ttl=int(headers.get("ttl", "1")),
            conduit_subscriptions=headers.get("conduit", "true") == "true",
            decrease_network_consumer_priority=headers.get("decrease-priority") == "true",
            prefetch_size=int(headers.get("prefetch", "1000")),
            excluded=names("excluded"),
            dynamically_included=names("dynamic"),
            statically_included=names("static"),
        )
    except ValueError as exc:
        raise HandshakeRefused(f"bad BRIDGE frame: {exc}") from None


async def _read_frame(reader: asyncio.StreamReader, parser: FrameParser, timeout: float) -> Frame:
    deadline = time.monotonic() + timeout
    while True:
        frame = parser.pull()
        if frame is not None:
            return frame
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer")
        data = await asyncio.wait_for(reader.read(65536), remaining)
        if not data:
            raise ConnectionError("closed during the handshake")
        parser.append(data)


class NetworkService:
    """Runs for one master term: ``await service.run(broker)`` until cancelled."""

    def __init__(self, config: NetworkConfig, log: logging.Logger) -> None:
        self.config = config
        self.log = log
        self.registry: Registry | None = None
        self._bridge_tasks: set[asyncio.Task[None]] = set()
        # The reconnect schedule's time (replaced by the unit tests' fake clock).
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep

    async def run(self, broker: Broker) -> None:
        store_id, written = broker.store_identity()
        if written is not None:
            # A store's first term: no other broker may hold anything under an identity not stored.
            await written
        registry = self.registry = Registry(broker, store_id)
        server: asyncio.Server | None = None
        tasks: list[asyncio.Task[None]] = []
        discovery: asyncio.Task[None] | None = None
        discovered: list[_MulticastConnector] = []
        try:
            listen = self.config.listen
            if listen is not None:
                server = await asyncio.start_server(self._accept, listen.host, listen.port, reuse_address=True)
                self.log.info(
                    "Connector %s started at tcp://%s:%d", self.config.listener_name, listen.host, listen.port
                )
            for connector in self.config.connectors:
                if connector.discovery == "static":
                    for target in connector.targets:
                        tasks.append(asyncio.ensure_future(self._keep_bridged(connector, (target,))))
                elif connector.discovery == "masterslave":
                    tasks.append(asyncio.ensure_future(self._keep_bridged(connector, connector.targets)))
            multicast = [c for c in self.config.connectors if c.discovery == "multicast"]
            group = self.config.advertise or (multicast[0].multicast if multicast else None)
            discovered = [_MulticastConnector(c, self) for c in multicast]
            if group is not None:
                agent = MulticastAgent(group, broker.name, self.config.advertised_endpoint, self.log)

                def heard(name: str, endpoint: Endpoint) -> None:
                    for each in discovered:
                        each.heard(name, endpoint)

                def lost(endpoint: Endpoint) -> None:
                    for each in discovered:
                        each.lost(endpoint)

                discovery = asyncio.ensure_future(agent.run(heard, lost))
                tasks.append(discovery)
            await asyncio.Event().wait()
        finally:
            for task in tasks:
                task.cancel()
            if discovery is not None:
                # Let the agent say this broker stopped before the term (and perhaps the process) ends.
                await asyncio.wait([discovery], timeout=1.0)
            for each in discovered:
                each.close()
            for task in list(self._bridge_tasks):
                task.cancel()
            for bridge in list(registry.bridges):
                bridge.close()
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 1.0)
                self.log.info("Connector %s stopped", self.config.listener_name)

    # -- the connectors' side -------------------------------------------------------------------------

    async def _keep_bridged(self, connector: NetworkConnectorConfig, targets: tuple[Endpoint, ...]) -> None:
        """Keep one bridge up to the first of ``targets`` that accepts it (one pass over them is one
        attempt, as masterslave:'s failover:(...)?maxReconnectAttempts=0 makes it), on ActiveMQ's schedule."""
        schedule = ReconnectSchedule(connector.reconnect, self.clock)
        while True:
            schedule.attempt()
            await self._attempt(connector, targets)
            delay = schedule.failed()
            where = ", ".join(str(t) for t in targets)
            if delay is None:
                self.log.warning(
                    "Network connector %s: reconnect attempts exceeded %d tries; reconnecting to %s has been disabled",
                    connector.name,
                    schedule.failures,
                    where,
                )
                return
            self.log.info("Network connector %s: next attempt to %s in %d ms", connector.name, where, delay)
            await self.sleep(delay / 1000.0)

    async def _attempt(self, connector: NetworkConnectorConfig, targets: tuple[Endpoint, ...]) -> None:
        """``_bridge_once`` that ends as a failed attempt, logged, whatever it raises (but cancellation):
        an error escaping it would end the connector's loop, and the broker would never be dialled again."""
        try:
            await self._bridge_once(connector, targets)
        except Exception:
            where = ", ".join(str(t) for t in targets)
            self.log.exception("Network connector %s: the bridge to %s failed unexpectedly", connector.name, where)

    async def _bridge_once(self, connector: NetworkConnectorConfig, targets: tuple[Endpoint, ...]) -> None:
        """One attempt: a bridge to the first of ``targets`` that accepts one, served until it fails."""
        for target in targets:
            try:
                bridge = await self._connect(connector, target)
            except HandshakeRefused as exc:
                self.log.info("Network connector %s: %s refused the bridge: %s", connector.name, target, exc)
                continue
            except (OSError, TimeoutError, ConnectionError, FrameError) as exc:
                self.log.debug("Network connector %s: %s unreachable: %s", connector.name, target, exc)
                continue
            self.log.info(
                "Network connection between %s and %s (%s) has been established",
                bridge.local,
                target,
                bridge.peer,
            )
            await self._serve(bridge)
            self.log.info("Network bridge %s to %s (%s) stopped", connector.name, target, bridge.peer)
            return

    async def _connect(self, connector: NetworkConnectorConfig, target: Endpoint) -> Bridge:
        assert self.registry is not None
        reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), CONNECT_TIMEOUT_S)
        try:
            headers = {
                "broker": self.registry.broker.name,
                "store": self.registry.store_id,
                **_settings_headers(connector),
            }
            writer.write(frame_bytes("BRIDGE", headers))
            parser = FrameParser(V1_2)
            answer = await _read_frame(reader, parser, HANDSHAKE_TIMEOUT_S)
            if answer.command == "ERROR":
                raise HandshakeRefused(answer.headers.get("message", "refused"))
            if answer.command != "BRIDGED" or not answer.headers.get("broker") or not answer.headers.get("store"):
                raise HandshakeRefused(f"unexpected {answer.command} frame")
        except BaseException:
            writer.transport.abort()
            raise
        return Bridge(
            self.registry,
            answer.headers["broker"],
            answer.headers["store"],
            _settings_of(connector),
            reader,
            writer,
            forward=True,
            advertise=connector.duplex,
            log=self.log,
            parser=parser,
        )

    async def _serve(self, bridge: Bridge) -> None:
        task = asyncio.ensure_future(bridge.run())
        self._bridge_tasks.add(task)
        try:
            await task
        finally:
            self._bridge_tasks.discard(task)

    # -- the listener's side ------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        registry = self.registry
        assert registry is not None
        parser = FrameParser(V1_2)
        try:
            hello = await _read_frame(reader, parser, HANDSHAKE_TIMEOUT_S)
            if hello.command != "BRIDGE" or not hello.headers.get("broker") or not hello.headers.get("store"):
                raise HandshakeRefused(f"expected BRIDGE with broker and store, got {hello.command}")
            peer = hello.headers["broker"]
            if peer == registry.broker.name or hello.headers["store"] == registry.store_id:
                raise HandshakeRefused(f"loop-back: {peer} is this broker, or serves its store")
            connector = _connector_from_headers(hello.headers)
        except HandshakeRefused as exc:
            writer.write(frame_bytes("ERROR", {"message": str(exc)}))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), 1.0)
            writer.close()
            return
        except (OSError, TimeoutError, ConnectionError, FrameError):
            writer.transport.abort()
            return
        writer.write(frame_bytes("BRIDGED", {"broker": registry.broker.name, "store": registry.store_id}))
        bridge = Bridge(
            registry,
            peer,
            hello.headers["store"],
            _settings_of(connector),
            reader,
            writer,
            forward=connector.duplex,
            advertise=True,
            log=self.log,
            parser=parser,
        )
        self.log.info(
            "Network connection between %s and %s (%s) has been established (%s)",
            registry.broker.name,
            peer,
            connector.name,
            "duplex" if connector.duplex else "inbound",
        )
        # The server's handler task ends here: cancelled when the term ends, which asyncio would
        # otherwise log as an unretrieved error of the connection callback.
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve(bridge)


class _MulticastConnector:
    """One multicast connector: a bridge to each broker the agent hears, dialled at once and, after a
    failure, again on MulticastDiscoveryAgent's terms (rediscovery.py), not static:'s schedule."""

    def __init__(self, connector: NetworkConnectorConfig, service: NetworkService) -> None:
        assert connector.multicast is not None
        self.connector = connector
        self.policy = connector.multicast.redial
        self.service = service
        self.brokers: dict[Endpoint, DiscoveredBroker] = {}
        self.dials: dict[Endpoint, asyncio.Task[None]] = {}

    def heard(self, name: str, endpoint: Endpoint) -> None:
        known = self.brokers.get(endpoint)
        if known is None:
            known = self.brokers[endpoint] = DiscoveredBroker(self.policy, self.service.clock)
        elif not known.heard():
            return
        else:
            self.service.log.info("Network connector %s: dialling %s (%s) again", self.connector.name, name, endpoint)
        self.dials[endpoint] = asyncio.ensure_future(self._dial(endpoint, known))

    def lost(self, endpoint: Endpoint) -> None:
        """Not heard for long, or said it stopped: forgotten with its failures (heard again, it is
        dialled at once)."""
        self.brokers.pop(endpoint, None)
        task = self.dials.pop(endpoint, None)
        if task is not None:
            task.cancel()

    async def _dial(self, endpoint: Endpoint, broker: DiscoveredBroker) -> None:
        await self.service._attempt(self.connector, (endpoint,))
        delay = broker.bridge_failed()
        if delay is None:
            return
        if broker.given_up:
            self.service.log.warning(
                "Network connector %s: %s failed %d times, more than maxReconnectAttempts; not dialled again "
                "while it advertises",
                self.connector.name,
                endpoint,
                broker.failures,
            )
        else:
            self.service.log.info(
                "Network connector %s: bridge to %s failed (failure %d); its advertisements are ignored for %d ms",
                self.connector.name,
                endpoint,
                broker.failures,
                delay,
            )

    def close(self) -> None:
        for task in self.dials.values():
            task.cancel()
        self.dials.clear()
