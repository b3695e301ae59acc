"""One STOMP connection to one broker, made with stomp.py: the unit a failover client replaces.

A link is opened once and never reconnects (stomp.py's own retry loop is bypassed): when it
closes, the failover client makes a new link. The link translates stomp.py's listener calls, which
arrive on stomp.py's receiver thread, into calls on a :class:`LinkEvents` owner.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import stomp

from harness.client.errors import TransportFailure
from harness.client.uri import Endpoint

log = logging.getLogger("harness.client")

StompVersion = Literal["1.0", "1.1", "1.2"]
_CONNECTION_CLASSES: dict[str, Any] = {
    "1.0": stomp.Connection10,
    "1.1": stomp.Connection11,
    "1.2": stomp.Connection12,
}


@dataclass(frozen=True)
class LinkSettings:
    """What every link of one client sends on CONNECT, and how long the handshake may take."""

    version: StompVersion = "1.2"
    login: str | None = None
    passcode: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    heartbeats: tuple[int, int] = (0, 0)
    heartbeat_receive_scale: float = 1.5
    vhost: str | None = None
    connect_timeout: float = 10.0


class LinkEvents(Protocol):
    """What a link reports to its owner. Called on stomp.py's threads: keep these short."""

    def link_message(self, link: BrokerLink, frame: Any) -> None: ...

    def link_receipt(self, link: BrokerLink, receipt_id: str) -> None: ...

    def link_error(self, link: BrokerLink, frame: Any) -> None: ...

    def link_closed(self, link: BrokerLink, reason: TransportFailure) -> None: ...


class _StompListener:
    """The stomp.py listener of one link; stomp.py looks its ``on_*`` methods up by name."""

    def __init__(self, link: BrokerLink) -> None:
        self._link = link

    def on_connected(self, frame: Any) -> None:
        self._link._handshake_done(None)

    def on_message(self, frame: Any) -> None:
        self._link._message(frame)

    def on_receipt(self, frame: Any) -> None:
        self._link._receipt(frame.headers.get("receipt-id", ""))

    def on_error(self, frame: Any) -> None:
        self._link._error(frame)

    def on_disconnected(self) -> None:
        self._link._closed(None)

    def on_heartbeat_timeout(self) -> None:
        self._link._closed("heartbeat timeout")


LinkState = Literal["new", "opening", "open", "closed"]


class BrokerLink:
    """A single stomp.py connection to ``endpoint``. ``generation`` numbers the client's links."""

    def __init__(self, endpoint: Endpoint, generation: int, settings: LinkSettings, events: LinkEvents) -> None:
        self.endpoint = endpoint
        self.generation = generation
        self._settings = settings
        self._events = events
        self._lock = threading.Lock()
        self._state: LinkState = "new"
        self._conn: Any = None
        self._handshake = threading.Event()
        self._handshake_error: str | None = None
        self._abort_reason: str | None = None
        self._disconnect_receipt: str | None = None
        self._disconnect_done = threading.Event()
        # A retired link is being closed in favour of another one: its deliveries may not be acked.
        self.retired = False
        self.close_reason: str | None = None

    def __repr__(self) -> str:
        return f"<BrokerLink #{self.generation} {self.endpoint} {self._state}>"

    @property
    def is_open(self) -> bool:
        return self._state == "open"

    @property
    def usable(self) -> bool:
        return self._state == "open" and not self.retired

    def open(self) -> None:
        """TCP connect, send CONNECT, wait for CONNECTED. Raises TransportFailure."""
        timeout = self._settings.connect_timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._state != "new":
                raise TransportFailure(f"{self.endpoint}: link #{self.generation} was already opened")
            self._state = "opening"
        # The socket is opened here rather than by stomp.py, whose connect loop logs the OSError and
        # raises a bare ConnectFailedException: the reason (refused, timed out) would be lost.
        try:
            sock = socket.create_connection(self.endpoint.address, timeout=timeout)
        except OSError as exc:
            self._closed(f"TCP connect failed: {exc}")
            raise TransportFailure(f"{self.endpoint}: TCP connect failed: {exc}") from None
        sock.settimeout(None)
        conn = self._make_connection()
        conn.transport.socket = sock
        conn.transport.current_host_and_port = self.endpoint.address
        conn.set_listener("harness.client", _StompListener(self))
        with self._lock:
            aborted = self._state == "closed"
            self._conn = conn
        if aborted:
            sock.close()
            raise TransportFailure(f"{self.endpoint}: {self._abort_reason or 'closed while connecting'}")
        try:
            self._send_connect(conn)
        except Exception as exc:
            self.abort(f"CONNECT could not be sent: {exc}")
            raise TransportFailure(f"{self.endpoint}: CONNECT could not be sent: {exc}") from None
        answered = self._handshake.wait(max(0.0, deadline - time.monotonic()))
        if not answered:
            self.abort(f"no CONNECTED frame within {timeout:g} s")
        with self._lock:
            if self._state == "open":
                return
        reason = self._handshake_error or self.close_reason or "closed during the STOMP handshake"
        self.abort(reason)
        raise TransportFailure(f"{self.endpoint}: {reason}")

    def _make_connection(self) -> Any:
        settings = self._settings
        cls = _CONNECTION_CLASSES[settings.version]
        kwargs: dict[str, Any] = {
            "host_and_ports": [self.endpoint.address],
            "prefer_localhost": False,
            "try_loopback_connect": False,
            "reconnect_attempts_max": 1,
            "auto_decode": False,
        }
        if settings.version != "1.0":
            kwargs["heartbeats"] = settings.heartbeats
            kwargs["heart_beat_receive_scale"] = settings.heartbeat_receive_scale
            kwargs["vhost"] = settings.vhost
        return cls(**kwargs)

    def _send_connect(self, conn: Any) -> None:
        settings = self._settings
        headers = dict(settings.headers)
        if settings.version == "1.0":
            conn.connect(settings.login, settings.passcode, wait=False, headers=headers)
        else:
            # CONNECT rather than STOMP: every broker accepts it, STOMP is 1.1+ only.
            conn.connect(settings.login, settings.passcode, wait=False, headers=headers, with_connect_command=True)

    def transmit(self, command: str, headers: Mapping[str, str], body: bytes = b"") -> None:
        """Write one frame. Raises TransportFailure (and closes the link) if the socket fails."""
        with self._lock:
            conn = self._conn
            state = self._state
        if conn is None or state != "open":
            raise TransportFailure(f"{self.endpoint}: link #{self.generation} is not open")
        # stomp.py escapes header values in place: hand it a copy so a resend is not escaped twice.
        frame_headers = dict(headers)
        if body:
            frame_headers["content-length"] = str(len(body))
        try:
            conn.send_frame(command, frame_headers, body)
        except Exception as exc:
            self.abort(f"write failed: {exc}")
            raise TransportFailure(f"{self.endpoint}: write failed: {exc}") from None

    def close(self, graceful_timeout: float = 0.0) -> None:
        """DISCONNECT (waiting up to ``graceful_timeout`` for its receipt), then close the socket.

        The broker answers frames in order, so receipts for earlier frames arrive before this one.
        """
        if graceful_timeout > 0 and self.is_open:
            receipt = f"disconnect-{self.generation}"
            self._disconnect_receipt = receipt
            try:
                self.transmit("DISCONNECT", {"receipt": receipt})
                self._disconnect_done.wait(graceful_timeout)
            except TransportFailure:
                pass
        self.abort("closed by the client")

    def abort(self, reason: str) -> None:
        """Close the socket now; the owner hears about it through ``link_closed``."""
        with self._lock:
            if self._state == "closed":
                return
            self._abort_reason = reason
            conn = self._conn
        if conn is not None:
            try:
                conn.transport.disconnect_socket()
            except Exception as exc:
                log.debug("%s: closing link #%d: %s", self.endpoint, self.generation, exc)
        self._closed(reason)

    # --- called from stomp.py's threads through _StompListener ---

    def _handshake_done(self, error: str | None) -> None:
        with self._lock:
            if self._state == "opening" and error is None:
                self._state = "open"
            if error is not None:
                self._handshake_error = error
        self._handshake.set()

    def _message(self, frame: Any) -> None:
        if self._state == "open":
            self._events.link_message(self, frame)

    def _receipt(self, receipt_id: str) -> None:
        if receipt_id and receipt_id == self._disconnect_receipt:
            self._disconnect_done.set()
            return
        self._events.link_receipt(self, receipt_id)

    def _error(self, frame: Any) -> None:
        if self._state == "opening":
            message = frame.headers.get("message", "") or _text(frame.body) or "ERROR frame"
            self._handshake_done(f"broker refused CONNECT: {message}")
            return
        self._events.link_error(self, frame)

    def _closed(self, reason: str | None) -> None:
        with self._lock:
            if self._state == "closed":
                return
            was_open = self._state == "open"
            self._state = "closed"
            self.close_reason = reason or self._abort_reason or self._guess_reason()
        self._handshake.set()
        self._disconnect_done.set()
        if was_open:
            self._events.link_closed(self, TransportFailure(f"{self.endpoint}: {self.close_reason}"))

    def _guess_reason(self) -> str:
        # stomp.py reports a heartbeat timeout only after on_disconnected; recognise it from its state.
        conn = self._conn
        receive_sleep = getattr(conn, "receive_sleep", 0) or 0
        last = getattr(conn, "received_heartbeat", None)
        if receive_sleep and last is not None and time.monotonic() - last > receive_sleep:
            return "heartbeat timeout"
        return "connection closed by the broker"


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace").strip()
    return str(body or "").strip()
