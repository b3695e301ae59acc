"""A TCP relay on the link between one broker and its database, so that the link can be cut or slowed.

Each broker node reaches the database through its own LinkProxy. Cutting the link resets every
connection through it (both ends see a reset, as when a firewall rejects the flow) and resets new
ones until it is restored; latency delays every chunk in each direction without reordering. The
proxy also knows the local ports of its connections to the database, which is how the database's
sessions of one broker are told apart from the others' (session kill).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable

log = logging.getLogger("harness.services")

_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN: the peer learns at once that the connection is gone.

    shutdown() first: a close() alone leaves the socket open while a relay thread is blocked in recv()
    on it, and nothing would reach the peer.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Relay:
    """One client connection and its connection to the database, pumped in both directions."""

    def __init__(self, proxy: LinkProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.upstream_port = int(upstream.getsockname()[1])
        self.closed = threading.Event()
        for source, sink, direction in ((client, upstream, "up"), (upstream, client, "down")):
            chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
            threading.Thread(target=self._read, args=(source, chunks), daemon=True, name=f"link-{direction}-r").start()
            threading.Thread(target=self._write, args=(sink, chunks), daemon=True, name=f"link-{direction}-w").start()

    def _read(self, source: socket.socket, chunks: queue.Queue[tuple[float, bytes]]) -> None:
        try:
            while not self.closed.is_set():
                data = source.recv(_CHUNK)
                chunks.put((time.monotonic() + self.proxy.latency_s, data))
                if not data:
                    return
        except OSError:
            chunks.put((0.0, b""))
        finally:
            self.close(reset=False)

    def _write(self, sink: socket.socket, chunks: queue.Queue[tuple[float, bytes]]) -> None:
        try:
            while True:
                due, data = chunks.get()
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if self.closed.is_set():
                    return
                sink.sendall(data)
        except OSError:
            self.close(reset=True)

    def close(self, reset: bool) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        self.proxy._forget(self)


class LinkProxy:
    """Relay ``listen_host:port`` to ``upstream``; ``cut()`` / ``restore()`` / ``latency_ms``.

    ``upstream`` may be a function giving the address, asked on every new connection: a database in a
    container can come back from an outage on another address.
    """

    def __init__(
        self,
        upstream: tuple[str, int] | Callable[[], tuple[str, int]],
        name: str = "link",
        listen_host: str = "127.0.0.1",
    ) -> None:
        self.name = name
        self._upstream = upstream
        self.listen_host = listen_host
        self.latency_s = 0.0
        self.cut_since: float | None = None
        self._relays: set[_Relay] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept, daemon=True, name=f"link-{name}")
        self._acceptor.start()

    def __repr__(self) -> str:
        state = "cut" if self.is_cut else f"latency {self.latency_s * 1000:.0f} ms"
        return f"<link {self.name} {self.listen_host}:{self.port} {state}>"

    @property
    def upstream(self) -> tuple[str, int]:
        return self._upstream() if callable(self._upstream) else self._upstream

    @property
    def is_cut(self) -> bool:
        return self.cut_since is not None

    @property
    def latency_ms(self) -> float:
        return self.latency_s * 1000

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"link {self.name}: latency must be >= 0 ms, got {value}")
        self.latency_s = value / 1000

    def upstream_ports(self) -> set[int]:
        """Local ports of the live connections to the database (the sessions of this link's broker)."""
        with self._lock:
            return {relay.upstream_port for relay in self._relays}

    def connections(self) -> int:
        with self._lock:
            return len(self._relays)

    def cut(self) -> None:
        """Reset every connection through the link and every new one, until restore()."""
        with self._lock:
            self.cut_since = time.monotonic()
            relays = list(self._relays)
        for relay in relays:
            relay.close(reset=True)
        log.info("link %s cut (%d connections reset)", self.name, len(relays))

    def restore(self) -> None:
        self.cut_since = None
        log.info("link %s restored", self.name)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.is_cut:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except Exception as exc:  # unreachable, or no address (a database container that is down)
                log.debug("link %s: database unreachable (%s)", self.name, exc)
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            relay = _Relay(self, client, upstream)
            with self._lock:
                if not relay.closed.is_set():
                    self._relays.add(relay)

    def _forget(self, relay: _Relay) -> None:
        with self._lock:
            self._relays.discard(relay)

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the acceptor blocked in accept()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            relays = list(self._relays)
        for relay in relays:
            relay.close(reset=True)
        self._acceptor.join(timeout=2)

    def __enter__(self) -> LinkProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
