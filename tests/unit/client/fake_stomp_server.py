"""A tiny in-process STOMP 1.0-1.2 server for unit tests of the failover client.

It is a test double, not a broker: queues live in memory, there is no persistence and no clustering.
What it offers the tests is control: drop every connection, stop listening and come back on the
same port, withhold RECEIPTs, answer a SEND (per destination) or any command with an ERROR, go
silent (accept but never answer, like a SIGSTOPped broker), send heart-beats, and a record of every
frame it received.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

VERSIONS = ("1.0", "1.1", "1.2")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", ":": "\\c", "\r": "\\r"}
_UNESCAPES = {"\\\\": "\\", "\\n": "\n", "\\c": ":", "\\r": "\r"}


@dataclass
class Frame:
    command: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class _Message:
    message_id: str
    destination: str
    body: bytes
    headers: dict[str, str]
    redelivered: bool = False


@dataclass
class _Subscription:
    id: str
    destination: str
    ack: str


@dataclass(eq=False)
class _Connection:
    number: int
    sock: socket.socket
    version: str = "1.0"
    connected: bool = False
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    # ack id -> (subscription id, message)
    unacked: dict[str, tuple[str, _Message]] = field(default_factory=dict)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in _UNESCAPES:
            out.append(_UNESCAPES[pair])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


class FakeStompServer:
    """Listens on 127.0.0.1 (port 0 picks a free one, kept across stop/restart)."""

    def __init__(self, name: str = "fake", port: int = 0) -> None:
        self.name = name
        self.port = port
        # Behaviour switches, settable at any time.
        self.withhold_receipts: set[str] = set()
        self.refuse_destinations: dict[str, str] = {}
        # command -> message: answer that command (e.g. ACK) with an ERROR naming its receipt.
        self.refuse_commands: dict[str, str] = {}
        self.refuse_connect: str | None = None
        self.silent = False
        self.heartbeat_ms = 0
        # Records.
        self.frames: list[tuple[int, Frame]] = []
        self.queues: dict[str, deque[_Message]] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._listener: socket.socket | None = None
        self._connections: dict[int, _Connection] = {}
        self._numbers = itertools.count(1)
        self._message_numbers = itertools.count(1)
        self._ack_numbers = itertools.count(1)
        self._round_robin = itertools.count()
        self.connections_accepted = 0

    # --- lifecycle ---

    def start(self) -> FakeStompServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), name=f"{self.name}-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening (connects are refused) and close every connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self.drop_connections()

    def restart(self) -> None:
        self.stop()
        self.start()

    def drop_connections(self) -> None:
        """Close every client connection abruptly (like a broker crash seen from the client)."""
        with self._lock:
            connections = list(self._connections.values())
        for conn in connections:
            self._close(conn)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    # --- inspection ---

    def received(self, command: str) -> list[Frame]:
        with self._lock:
            return [f for _, f in self.frames if f.command == command]

    def stored(self, destination: str) -> list[bytes]:
        """Bodies of every SEND this server accepted for ``destination``, in arrival order."""
        return [
            f.body
            for f in self.received("SEND")
            if f.headers.get("destination") == destination and destination not in self.refuse_destinations
        ]

    @property
    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections.values() if c.connected)

    def subscriptions(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return [(s.id, s.destination, s.ack) for c in self._connections.values() for s in c.subscriptions.values()]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name}: timed out after {timeout} s waiting for {what}")
                self._changed.wait(min(remaining, 0.05))

    # --- publishing ---

    def publish(self, destination: str, body: bytes | str, headers: Mapping[str, str] | None = None) -> str:
        payload = body.encode() if isinstance(body, str) else body
        with self._lock:
            message = _Message(
                f"ID:{self.name}-{next(self._message_numbers)}", destination, payload, dict(headers or {})
            )
            self.queues.setdefault(destination, deque()).append(message)
            self._dispatch(destination)
            return message.message_id

    # --- internals ---

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                sock.close()
                return
            conn = _Connection(next(self._numbers), sock)
            with self._lock:
                self._connections[conn.number] = conn
                self.connections_accepted += 1
            threading.Thread(target=self._read_loop, args=(conn,), name=f"{self.name}-conn", daemon=True).start()

    def _read_loop(self, conn: _Connection) -> None:
        buffer = b""
        try:
            while True:
                data = conn.sock.recv(65536)
                if not data:
                    return
                buffer += data
                while True:
                    frame, buffer = self._parse(buffer, conn.version if conn.connected else "1.0")
                    if frame is None:
                        break
                    self._handle(conn, frame)
        except OSError:
            return
        finally:
            self._close(conn)

    @staticmethod
    def _parse(buffer: bytes, version: str) -> tuple[Frame | None, bytes]:
        buffer = buffer.lstrip(b"\r\n")
        end = buffer.find(b"\n\n")
        if end < 0:
            return None, buffer
        head = buffer[:end].decode("utf-8").replace("\r\n", "\n")
        lines = head.split("\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if version != "1.0" and lines[0] not in ("CONNECT", "STOMP"):
                key, value = _unescape(key), _unescape(value)
            headers.setdefault(key, value)
        start = end + 2
        if "content-length" in headers:
            stop = start + int(headers["content-length"])
            if len(buffer) < stop + 1:
                return None, buffer
        else:
            stop = buffer.find(b"\x00", start)
            if stop < 0:
                return None, buffer
        return Frame(lines[0], headers, buffer[start:stop]), buffer[stop + 1 :]

    def _write(self, conn: _Connection, command: str, headers: Mapping[str, str], body: bytes = b"") -> None:
        escape = conn.version != "1.0" and command != "CONNECTED"
        lines = [command]
        for key, value in headers.items():
            lines.append(f"{_escape(key)}:{_escape(value)}" if escape else f"{key}:{value}")
        if body:
            lines.append(f"content-length:{len(body)}")
        data = ("\n".join(lines) + "\n\n").encode() + body + b"\x00"
        try:
            with conn.write_lock:
                conn.sock.sendall(data)
        except OSError:
            self._close(conn)

    def _handle(self, conn: _Connection, frame: Frame) -> None:
        with self._changed:
            self.frames.append((conn.number, frame))
            self._changed.notify_all()
        if self.silent:
            return
        command = frame.command
        if command in ("CONNECT", "STOMP"):
            self._on_connect(conn, frame)
            return
        receipt = frame.headers.get("receipt")
        if command in self.refuse_commands:
            error = {"message": self.refuse_commands[command]}
            if receipt:
                error["receipt-id"] = receipt
            self._write(conn, "ERROR", error)
            return
        if command == "SEND":
            destination = frame.headers.get("destination", "")
            if destination in self.refuse_destinations:
                error = {"message": self.refuse_destinations[destination]}
                if receipt:
                    error["receipt-id"] = receipt
                self._write(conn, "ERROR", error)
                return
            with self._lock:
                headers = {k: v for k, v in frame.headers.items() if k not in ("receipt", "content-length")}
                message = _Message(f"ID:{self.name}-{next(self._message_numbers)}", destination, frame.body, headers)
                self.queues.setdefault(destination, deque()).append(message)
        elif command == "SUBSCRIBE":
            sub = _Subscription(frame.headers["id"], frame.headers["destination"], frame.headers.get("ack", "auto"))
            with self._lock:
                conn.subscriptions[sub.id] = sub
        elif command == "UNSUBSCRIBE":
            with self._lock:
                conn.subscriptions.pop(frame.headers.get("id", ""), None)
                self._requeue(conn, frame.headers.get("id"))
        elif command in ("ACK", "NACK"):
            key = frame.headers.get("id") if conn.version == "1.2" else frame.headers.get("message-id")
            with self._lock:
                conn.unacked.pop(key or "", None)
        if receipt and command not in self.withhold_receipts:
            self._write(conn, "RECEIPT", {"receipt-id": receipt})
        if command == "DISCONNECT":
            self._close(conn)
            return
        with self._lock:
            for destination in list(self.queues):
                self._dispatch(destination)

    def _on_connect(self, conn: _Connection, frame: Frame) -> None:
        if self.refuse_connect is not None:
            self._write(conn, "ERROR", {"message": self.refuse_connect})
            self._close(conn)
            return
        accepted = frame.headers.get("accept-version", "1.0").split(",")
        conn.version = max((v for v in accepted if v in VERSIONS), default="1.0")
        headers = {
            "version": conn.version,
            "server": f"fake/{self.name}",
            "session": f"{self.name}-{conn.number}",
        }
        client_beats = frame.headers.get("heart-beat", "0,0").split(",")
        wants_beats = len(client_beats) == 2 and client_beats[1].strip() not in ("", "0")
        if conn.version != "1.0":
            headers["heart-beat"] = f"{self.heartbeat_ms if wants_beats else 0},0"
        with self._lock:
            conn.connected = True
        self._write(conn, "CONNECTED", headers)
        if wants_beats and self.heartbeat_ms > 0:
            threading.Thread(target=self._beat, args=(conn,), name=f"{self.name}-beat", daemon=True).start()

    def _beat(self, conn: _Connection) -> None:
        while not conn.closed:
            time.sleep(self.heartbeat_ms / 1000.0)
            if self.silent or conn.closed:
                continue
            try:
                with conn.write_lock:
                    conn.sock.sendall(b"\n")
            except OSError:
                return

    def _dispatch(self, destination: str) -> None:
        """Hand queued messages to subscribers round-robin. Lock held."""
        queue = self.queues.get(destination)
        while queue:
            candidates = [
                (c, s)
                for c in self._connections.values()
                if c.connected and not c.closed
                for s in c.subscriptions.values()
                if s.destination == destination
            ]
            if not candidates or self.silent:
                return
            conn, sub = candidates[next(self._round_robin) % len(candidates)]
            message = queue.popleft()
            headers = {
                "message-id": message.message_id,
                "destination": destination,
                "subscription": sub.id,
                **{k: v for k, v in message.headers.items() if k not in ("destination",)},
            }
            if message.redelivered:
                headers["redelivered"] = "true"
            if sub.ack != "auto":
                ack_id = f"{self.name}-ack-{next(self._ack_numbers)}" if conn.version == "1.2" else message.message_id
                if conn.version == "1.2":
                    headers["ack"] = ack_id
                conn.unacked[ack_id] = (sub.id, message)
            self._write(conn, "MESSAGE", headers, message.body)

    def _requeue(self, conn: _Connection, sub_id: str | None) -> None:
        """Put a connection's unacked messages (of one subscription, or all) back, redelivered. Lock held."""
        for ack_id, (owner, message) in list(conn.unacked.items()):
            if sub_id is None or owner == sub_id:
                del conn.unacked[ack_id]
                message.redelivered = True
                self.queues.setdefault(message.destination, deque()).appendleft(message)

    def _close(self, conn: _Connection) -> None:
        with self._lock:
            if conn.closed:
                return
            conn.closed = True
            conn.connected = False
            self._connections.pop(conn.number, None)
            self._requeue(conn, None)
            for destination in list(self.queues):
                self._dispatch(destination)
            self._changed.notify_all()
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        conn.sock.close()
