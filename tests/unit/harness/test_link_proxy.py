"""The link proxy between a broker and its database: relays both ways, cuts, restores, tells sessions apart.

These tests use sockets on loopback and threads, no processes.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from harness.services import LinkProxy


class EchoServer:
    """Echoes every byte back; remembers the peer port of each connection (as a database would)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.peer_ports: list[int] = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peer_ports.append(peer[1])
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                conn.sendall(data)
        self.closed.set()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.sock.close()


@pytest.fixture
def link(echo: EchoServer) -> Iterator[LinkProxy]:
    proxy = LinkProxy(("127.0.0.1", echo.port), name="amq1->db")
    yield proxy
    proxy.close()


def _roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_bytes_cross_the_link_both_ways_in_order(link: LinkProxy) -> None:
    payload = bytes(range(256)) * 1000
    assert _roundtrip(link.port, payload) == payload


def test_bytes_keep_their_order_on_a_slow_link(link: LinkProxy) -> None:
    link.latency_ms = 20
    payload = b"".join(f"{i:06d}".encode() for i in range(5000))
    assert _roundtrip(link.port, payload) == payload


def test_negative_latency_is_refused(link: LinkProxy) -> None:
    with pytest.raises(ValueError, match="latency must be >= 0"):
        link.latency_ms = -1


def test_cut_resets_live_connections_and_the_database_sees_them_end(link: LinkProxy, echo: EchoServer) -> None:
    conn = socket.create_connection(("127.0.0.1", link.port), timeout=5)
    conn.sendall(b"ping")
    assert conn.recv(4) == b"ping"
    link.cut()
    assert echo.closed.wait(5), "the database side of a cut connection stayed open (a lock it holds would live on)"
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        conn.sendall(b"x")
        if conn.recv(1) == b"":
            raise ConnectionResetError("closed")
    conn.close()


def test_new_connections_fail_while_cut_and_work_after_restore(link: LinkProxy) -> None:
    link.cut()
    assert link.is_cut
    with pytest.raises(OSError):
        _roundtrip_or_raise(link.port)
    link.restore()
    assert _roundtrip(link.port, b"back") == b"back"


def _roundtrip_or_raise(port: int) -> None:
    if _roundtrip(port, b"hello") != b"hello":
        raise ConnectionResetError("the link answered nothing")


def test_upstream_ports_are_the_database_side_peer_ports(link: LinkProxy, echo: EchoServer) -> None:
    conns = [socket.create_connection(("127.0.0.1", link.port), timeout=5) for _ in range(3)]
    try:
        for conn in conns:
            conn.sendall(b"hi")
            assert conn.recv(2) == b"hi"
        assert link.upstream_ports() == set(echo.peer_ports)
        assert link.connections() == 3
    finally:
        for conn in conns:
            conn.close()


def test_a_failing_address_lookup_refuses_that_connection_and_the_link_keeps_serving(echo: EchoServer) -> None:
    """A database container that is down has no address: the lookup raises. The link must reset that one
    connection and serve the next one, not die with its acceptor."""
    answers: list[tuple[str, int] | Exception] = [RuntimeError("container has no address"), ("127.0.0.1", echo.port)]

    def lookup() -> tuple[str, int]:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    with LinkProxy(lookup, name="amq1->db") as proxy:
        with pytest.raises(OSError):
            _roundtrip_or_raise(proxy.port)
        assert _roundtrip(proxy.port, b"still serving") == b"still serving"
