"""Test helpers for the built-in Toxiproxy: an upstream TCP server that records what reaches it, and
socket helpers for the client side."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable


class Upstream:
    """A TCP server that echoes what it receives (or only records it) and remembers each read."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.reads: list[tuple[float, bytes]] = []  # (monotonic time, bytes) of every recv
        self.connections: list[socket.socket] = []
        self.ended = threading.Event()
        self.end_error: str | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def received(self) -> bytes:
        return b"".join(data for _, data in self.reads)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError as exc:
                self.end_error = type(exc).__name__
                break
            if not data:
                break
            self.reads.append((time.monotonic(), data))
            if self.echo:
                try:
                    conn.sendall(data)
                except OSError:
                    break
        self.ended.set()

    def hang_up(self) -> None:
        """The server closes its side of every connection (a FIN towards the proxy)."""
        for conn in self.connections:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    host, _, port = listen.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def receive_exactly(conn: socket.socket, size: int) -> bytes:
    received = b""
    while len(received) < size:
        chunk = conn.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
