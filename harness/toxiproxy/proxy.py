"""A named proxy: it listens on one address, relays every connection to its upstream through two links,
and holds the toxics those links run.

As in Toxiproxy: the upstream address is dialled anew for every connection (a name is resolved each
time); a proxy that cannot reach its upstream closes the client's connection; disabling a proxy
stops its listener (new connections are refused) and closes every connection through it; enabling it
listens again on the same address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from dataclasses import dataclass
from typing import Any

from harness.toxiproxy.errors import ApiError, toxic_exists, toxic_not_found
from harness.toxiproxy.link import Link
from harness.toxiproxy.toxics import Toxic

log = logging.getLogger("harness.toxiproxy")

UPSTREAM_DIAL_TIMEOUT_S = 10.0


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) into its parts; the host may be empty (every interface)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ApiError(f"address {address}: missing port in address", 500)
    return host.strip("[]"), int(port)


def resolve_listen(address: str) -> tuple[str, int]:
    """The address to bind, with a name resolved to its first IPv4 address (Go's ResolveTCPAddr does this)."""
    host, port = split_address(address)
    if not host:
        return "0.0.0.0", port
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ApiError(f"listen tcp: lookup {host}: {exc.strerror}", 500) from exc
    return str(infos[0][4][0]), port


@dataclass(eq=False)
class Connection:
    """One client connection and its connection to the upstream."""

    client: str
    upstream_local: str
    links: tuple[Link, Link]

    def describe(self) -> dict[str, Any]:
        return {"client": self.client, "upstream_local": self.upstream_local}


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self._rng = rng
        self._server: asyncio.Server | None = None
        self._lock = asyncio.Lock()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics],
        }

    def differs(self, listen: str, upstream: str) -> bool:
        host, port = resolve_listen(listen)
        return self.listen != f"{host}:{port}" or self.upstream != upstream

    # -- listening --------------------------------------------------------------------------
    async def start(self) -> None:
        if self.enabled:
            return
        host, port = resolve_listen(self.listen)
        try:
            self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True, backlog=128)
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise ApiError(f"listen tcp {host}:{port}: bind: {reason}", 500) from exc
        bound = self._server.sockets[0].getsockname()
        self.listen = f"{bound[0]}:{bound[1]}"
        self.enabled = True
        log.info("proxy %s listening on %s for %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self.connections):
            for link in connection.links:
                link.stop()
        self.connections.clear()
        log.info("proxy %s stopped", self.name)

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if self.differs(listen, upstream):
            await self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            await self.stop()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        peer = client_writer.get_extra_info("peername")
        host, port = split_address(self.upstream)
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), UPSTREAM_DIAL_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            log.info("proxy %s: upstream %s unreachable (%s); closing the client", self.name, self.upstream, exc)
            client_writer.close()
            return
        if not self.enabled:  # disabled while the upstream was being dialled
            upstream_writer.close()
            client_writer.close()
            return
        local = upstream_writer.get_extra_info("sockname")

        def forget() -> None:
            if all(link.done for link in connection.links):
                self.connections.discard(connection)

        up = Link("upstream", client_reader, upstream_writer, client_writer, self._rng, forget)
        down = Link("downstream", upstream_reader, client_writer, upstream_writer, self._rng, forget)
        connection = Connection(f"{peer[0]}:{peer[1]}", f"{local[0]}:{local[1]}", (up, down))
        self.connections.add(connection)
        up.start([t for t in self.toxics if t.direction == "upstream"])
        down.start([t for t in self.toxics if t.direction == "downstream"])

    def _links(self, toxic: Toxic) -> list[Link]:
        return [link for c in self.connections for link in c.links if link.direction == toxic.direction]

    # -- toxics -----------------------------------------------------------------------------
    def toxic(self, name: str) -> Toxic:
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        raise toxic_not_found()

    def add_toxic(self, toxic: Toxic) -> None:
        if any(t.name == toxic.name for t in self.toxics):
            raise toxic_exists()
        self.toxics.append(toxic)
        for link in self._links(toxic):
            link.attach(toxic)

    def update_toxic(self, name: str, body: object) -> Toxic:
        toxic = self.toxic(name)
        toxic.update(body)
        for link in self._links(toxic):
            link.update(toxic)
        return toxic

    def remove_toxic(self, name: str) -> None:
        toxic = self.toxic(name)
        self.toxics.remove(toxic)
        for link in self._links(toxic):
            link.detach(toxic)

    def reset_toxics(self) -> None:
        for toxic in list(self.toxics):
            self.remove_toxic(toxic.name)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
