"""Multicast discovery (ActiveMQ's multicast://): each broker announces its bridge listener on a UDP
group every heartbeat; a broker heard is reported to the multicast connectors (which dial it: service.py,
rediscovery.py), one not heard for ``missed_heartbeats`` beats is dropped. The packet is
``<group>.pybroker.alive.%<brokerName>%tcp://host:port``; packets of other groups (another run's brokers
on the same machine) and this broker's own are ignored.

A broker that stops cleanly (a graceful stop, or the end of its master term) says so once with
``<group>.pybroker.dead.%<brokerName>%tcp://host:port``, and a peer hearing it drops that broker at
once, its failures forgotten: back and advertising, it is dialled at its first advertisement, not 5 s
after its bridge fell. ActiveMQ 5.17.2 does the same (MulticastDiscoveryAgent.stop advertises once
more after ``started`` is cleared, so as ``dead.``; processDead removes the broker's RemoteBrokerData).
A killed broker sends nothing: its peers drop it only when its beats stop, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, Literal

from harness.broker.config.network import Endpoint, MulticastGroup

State = Literal["alive", "dead"]


def announcement(group: str, broker: str, endpoint: Endpoint, state: State = "alive") -> bytes:
    return f"{group}.pybroker.{state}.%{broker}%{endpoint}".encode()


def parse_announcement(data: bytes, group: str) -> tuple[State, str, Endpoint] | None:
    """(state, brokerName, endpoint) of a packet of ``group``, or None for anything else."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    prefix = f"{group}.pybroker."
    if not text.startswith(prefix):
        return None
    state, sep, rest = text[len(prefix) :].partition(".%")
    if not sep or state not in ("alive", "dead"):
        return None
    broker, sep, uri = rest.partition("%")
    if not sep or not uri.startswith("tcp://"):
        return None
    host, sep, port = uri[len("tcp://") :].rpartition(":")
    if not sep or not port.isdigit():
        return None
    return ("alive" if state == "alive" else "dead"), broker, Endpoint(host, int(port))


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes], None]) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.on_packet(data)


class MulticastAgent:
    """Announces this broker and hears the others: ``on_heard(broker, endpoint)`` for every packet of
    another broker of the group, ``on_lost(endpoint)`` once one was not heard for ``missed_heartbeats``
    beats or said it stopped. What to dial, and when again, is the connectors' (service.py,
    rediscovery.py). Stopped (cancelled), it says it stopped."""

    def __init__(self, group: MulticastGroup, broker: str, endpoint: Endpoint | None, log: logging.Logger) -> None:
        self.group = group
        self.broker = broker
        self.endpoint = endpoint
        self.log = log
        self.peers: dict[Endpoint, float] = {}  # last heard (monotonic)

    def _socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(AttributeError, OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", self.group.port))
        membership = struct.pack("4s4s", socket.inet_aton(self.group.host), socket.inet_aton("0.0.0.0"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setblocking(False)
        return sock

    async def run(self, on_heard: Callable[[str, Endpoint], None], on_lost: Callable[[Endpoint], None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = self._socket()
        except OSError as exc:
            self.log.error("Multicast discovery on %s:%d failed: %s", self.group.host, self.group.port, exc)
            return
        transport, _ = await loop.create_datagram_endpoint(lambda: _Receiver(self._heard(on_heard, on_lost)), sock=sock)
        beat = self.group.heartbeat_ms / 1000.0
        dead_after = beat * self.group.missed_heartbeats
        self.log.info("Multicast discovery on %s:%d group %s", self.group.host, self.group.port, self.group.group)
        try:
            while True:
                if self.endpoint is not None:
                    packet = announcement(self.group.group, self.broker, self.endpoint)
                    try:
                        transport.sendto(packet, (self.group.host, self.group.port))
                    except OSError as exc:
                        self.log.warning("Multicast announcement failed: %s", exc)
                now = time.monotonic()
                for endpoint, heard in list(self.peers.items()):
                    if now - heard > dead_after:
                        self.log.info(
                            "Multicast discovery: %s not heard for %.1f s; dropping it", endpoint, now - heard
                        )
                        del self.peers[endpoint]
                        on_lost(endpoint)
                await asyncio.sleep(beat)
        finally:
            if self.endpoint is not None:
                # Sent at once (nothing is queued on a datagram socket that has sent every beat).
                with contextlib.suppress(OSError):
                    transport.sendto(
                        announcement(self.group.group, self.broker, self.endpoint, "dead"),
                        (self.group.host, self.group.port),
                    )
            transport.close()

    def _heard(
        self, on_heard: Callable[[str, Endpoint], None], on_lost: Callable[[Endpoint], None]
    ) -> Callable[[bytes], None]:
        def on_packet(data: bytes) -> None:
            found = parse_announcement(data, self.group.group)
            if found is None or found[1] == self.broker:
                return
            state, broker, endpoint = found
            if state == "dead":
                if self.peers.pop(endpoint, None) is not None:
                    self.log.info("Multicast discovery: %s at %s stopped; dropping it", broker, endpoint)
                    on_lost(endpoint)
                return
            if endpoint not in self.peers:
                self.log.info("Multicast discovery: found %s at %s", broker, endpoint)
            self.peers[endpoint] = time.monotonic()
            on_heard(broker, endpoint)

        return on_packet
