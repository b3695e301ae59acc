"""A plain STOMP connection to one broker, for conformance and bad-input scenarios.

Unlike FailoverConnection it hides nothing: no reconnect, no resend, heart-beats only when asked,
and any bytes can be written. A reader thread collects frames, heart-beats and the moment the
broker closed the connection, so a scenario can wait for each of them. MESSAGE frames that arrive
while waiting for a RECEIPT stay queued for :meth:`PlainStompConnection.receive`.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

from harness.client.errors import BrokerError, ClientError
from harness.client.wire import FrameReader, StompFrame, WireViolation, encode

DEFAULT_TIMEOUT = 10.0


class PeerClosed(ClientError):
    """The broker closed the connection before the frame waited for arrived."""


class FrameTimeout(ClientError, TimeoutError):
    """The frame waited for did not arrive in time; the connection is still open."""


class ErrorReply(BrokerError):
    """The broker answered with an ERROR frame where another frame was expected."""

    def __init__(self, frame: StompFrame) -> None:
        super().__init__(frame.headers.get("message", "(no message header)"), frame.headers, frame.text)
        self.frame = frame


class PlainStompConnection:
    """One TCP connection speaking STOMP; ``version`` is what CONNECTED negotiated (1.0 before)."""

    def __init__(self, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT, name: str = "client") -> None:
        self.host, self.port, self.timeout, self.name = host, port, timeout, name
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.version = "1.0"
        self.connected: StompFrame | None = None
        self.closed_at: float | None = None
        self.violation: WireViolation | None = None
        self._reader = FrameReader()
        self._frames: list[StompFrame] = []
        self._cond = threading.Condition()
        self._receipts = itertools.count(1)
        self._subscriptions = itertools.count(1)
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._read_loop, name=f"{name}-reader", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<PlainStompConnection {self.name} {self.host}:{self.port} STOMP {self.version} {state}>"

    # -- reading ------------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                frames = self._reader.feed(data)
                with self._cond:
                    self._frames.extend(frames)
                    self._cond.notify_all()
        except WireViolation as exc:
            self.violation = exc
        except OSError:
            pass
        with self._cond:
            self.closed_at = time.monotonic()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def heartbeats(self) -> list[float]:
        """When each heart-beat (an EOL between frames) arrived, as time.monotonic() values."""
        return list(self._reader.heartbeats)

    def _take(self, wanted: Callable[[StompFrame], bool], what: str, timeout: float | None) -> StompFrame:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while True:
                for i, frame in enumerate(self._frames):
                    if wanted(frame):
                        return self._frames.pop(i)
                if self.violation is not None:
                    raise self.violation
                if self.closed:
                    raise PeerClosed(f"{self.name}: the broker closed the connection while waiting for {what}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    queued = "; ".join(str(f) for f in self._frames[:5]) or "nothing"
                    waited = self.timeout if timeout is None else timeout
                    raise FrameTimeout(f"{self.name}: no {what} within {waited:g} s (queued: {queued})")
                self._cond.wait(remaining)

    def next_frame(self, timeout: float | None = None) -> StompFrame:
        """The next frame of any kind, in arrival order."""
        return self._take(lambda f: True, "frame", timeout)

    def wait_closed(self, timeout: float) -> bool:
        """True once the broker has closed the connection; False if still open after ``timeout`` s."""
        with self._cond:
            self._cond.wait_for(lambda: self.closed, timeout)
            return self.closed

    def error(self, timeout: float | None = None) -> StompFrame:
        """The first ERROR frame (frames before it stay queued)."""
        return self._take(lambda f: f.command == "ERROR", "ERROR frame", timeout)

    # -- writing ------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write raw bytes, exactly as given."""
        with self._write_lock:
            self.sock.sendall(data)

    def write_frame(self, command: str, headers: Mapping[str, str] | None = None, body: bytes | str = b"") -> None:
        """Write one frame, escaping headers for the negotiated version; adds nothing."""
        payload = body.encode("utf-8") if isinstance(body, str) else body
        self.write(encode(command, headers, payload, self.version))

    def exchange(
        self,
        command: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        timeout: float | None = None,
    ) -> StompFrame:
        """Write a frame with a fresh ``receipt`` header; return its RECEIPT, or the ERROR that came instead."""
        receipt = self.next_receipt_id(command)
        self.write_frame(command, {**(headers or {}), "receipt": receipt}, body)
        return self.receipt(receipt, timeout)

    def next_receipt_id(self, command: str = "frame") -> str:
        """A receipt id not used before on this connection, for frames written with :meth:`write_frame`."""
        return f"{command.lower()}-{next(self._receipts)}"

    def receipt(self, receipt_id: str, timeout: float | None = None) -> StompFrame:
        """Wait for the RECEIPT naming ``receipt_id``; return it, or the first ERROR that comes instead."""
        return self._take(
            lambda f: (f.command == "RECEIPT" and f.headers.get("receipt-id") == receipt_id) or f.command == "ERROR",
            f"RECEIPT {receipt_id}",
            timeout,
        )

    def request(
        self,
        command: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        timeout: float | None = None,
    ) -> StompFrame:
        """Like :meth:`exchange`, but an ERROR raises ErrorReply."""
        reply = self.exchange(command, headers, body, timeout)
        if reply.command == "ERROR":
            raise ErrorReply(reply)
        return reply

    def _frame(self, command: str, headers: dict[str, str], body: bytes | str, receipt: bool) -> StompFrame | None:
        if receipt:
            return self.request(command, headers, body)
        self.write_frame(command, headers, body)
        return None

    # -- the protocol -------------------------------------------------------------------------------

    def connect(
        self,
        version: str | None = "1.2",
        *,
        login: str | None = None,
        passcode: str | None = None,
        heartbeats: tuple[int, int] = (0, 0),
        headers: Mapping[str, str] | None = None,
        command: str = "CONNECT",
        timeout: float | None = None,
    ) -> StompFrame:
        """Send CONNECT (``version`` None: a 1.0 CONNECT with no accept-version) and return CONNECTED.

        Raises ErrorReply if the broker answers ERROR.
        """
        frame: dict[str, str] = {}
        if version is not None:
            accepted = {"1.0": "1.0", "1.1": "1.0,1.1", "1.2": "1.0,1.1,1.2"}.get(version, version)
            frame["accept-version"] = accepted
            frame["host"] = "localhost"
        if heartbeats != (0, 0):
            frame["heart-beat"] = f"{heartbeats[0]},{heartbeats[1]}"
        if login is not None:
            frame["login"] = login
        if passcode is not None:
            frame["passcode"] = passcode
        frame.update(headers or {})
        self.write_frame(command, frame)
        reply = self._take(lambda f: f.command in ("CONNECTED", "ERROR"), "CONNECTED", timeout)
        if reply.command == "ERROR":
            raise ErrorReply(reply)
        self.connected = reply
        self.version = reply.headers.get("version", "1.0")
        return reply

    def send(
        self,
        destination: str,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        *,
        persistent: bool = True,
        receipt: bool = True,
        transaction: str | None = None,
    ) -> StompFrame | None:
        """SEND (persistent unless asked otherwise); with ``receipt``, wait for the RECEIPT."""
        frame = {"destination": destination, **(headers or {})}
        if persistent:
            frame.setdefault("persistent", "true")
        if transaction is not None:
            frame["transaction"] = transaction
        payload = body.encode("utf-8") if isinstance(body, str) else body
        if payload and "content-length" not in frame:
            frame["content-length"] = str(len(payload))
        return self._frame("SEND", frame, payload, receipt)

    def subscribe(
        self,
        destination: str,
        *,
        ack: str = "auto",
        id: str | None = None,
        headers: Mapping[str, str] | None = None,
        receipt: bool = True,
    ) -> str:
        """SUBSCRIBE and return the subscription id."""
        sub_id = id if id is not None else f"sub-{next(self._subscriptions)}"
        self._frame(
            "SUBSCRIBE", {"destination": destination, "id": sub_id, "ack": ack, **(headers or {})}, b"", receipt
        )
        return sub_id

    def unsubscribe(self, id: str, *, receipt: bool = True) -> None:
        self._frame("UNSUBSCRIBE", {"id": id}, b"", receipt)

    def receive(self, timeout: float | None = None) -> StompFrame:
        """The next MESSAGE; raises ErrorReply if an ERROR comes first, FrameTimeout if none comes."""
        frame = self._take(lambda f: f.command in ("MESSAGE", "ERROR"), "MESSAGE", timeout)
        if frame.command == "ERROR":
            raise ErrorReply(frame)
        return frame

    def messages(self, count: int, timeout: float | None = None) -> list[StompFrame]:
        """Exactly ``count`` MESSAGE frames (waiting up to ``timeout`` s for each)."""
        return [self.receive(timeout) for _ in range(count)]

    def no_message(self, within: float) -> bool:
        """True if no MESSAGE arrives within ``within`` seconds."""
        try:
            frame = self.receive(within)
        except FrameTimeout:
            return True
        with self._cond:
            self._frames.insert(0, frame)  # let the caller still receive it
        return False

    def drain(self, idle: float = 1.0, first: float = 3.0) -> list[StompFrame]:
        """Every MESSAGE until none arrives for ``idle`` seconds (``first`` seconds for the first one:
        a busy broker may take a while to start dispatching to a new subscription)."""
        frames: list[StompFrame] = []
        while True:
            try:
                frames.append(self.receive(idle if frames else first))
            except FrameTimeout:
                return frames

    def _ack_headers(self, message: StompFrame) -> dict[str, str]:
        if self.version == "1.2":
            return {"id": message.headers["ack"]}
        if self.version == "1.1":
            return {"message-id": message.headers["message-id"], "subscription": message.headers["subscription"]}
        return {"message-id": message.headers["message-id"]}

    def ack(self, message: StompFrame, *, transaction: str | None = None, receipt: bool = True) -> None:
        """ACK ``message`` the way the negotiated version names it."""
        headers = self._ack_headers(message)
        if transaction is not None:
            headers["transaction"] = transaction
        self._frame("ACK", headers, b"", receipt)

    def nack(self, message: StompFrame, *, transaction: str | None = None, receipt: bool = True) -> None:
        headers = self._ack_headers(message)
        if transaction is not None:
            headers["transaction"] = transaction
        self._frame("NACK", headers, b"", receipt)

    def begin(self, transaction: str) -> None:
        self.request("BEGIN", {"transaction": transaction})

    def commit(self, transaction: str) -> None:
        self.request("COMMIT", {"transaction": transaction})

    def abort(self, transaction: str) -> None:
        self.request("ABORT", {"transaction": transaction})

    def disconnect(self, *, receipt: bool = True, timeout: float | None = None) -> None:
        """DISCONNECT (waiting for its RECEIPT when asked), then close the socket."""
        try:
            if receipt:
                self.request("DISCONNECT", timeout=timeout)
            else:
                self.write_frame("DISCONNECT")
        finally:
            self.close()

    @contextmanager
    def beating(self, interval_ms: int) -> Iterator[None]:
        """Send a heart-beat (an EOL) every ``interval_ms`` while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval_ms / 1000.0):
                try:
                    self.write(b"\n")
                except OSError:
                    return

        thread = threading.Thread(target=beat, name=f"{self.name}-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def close(self) -> None:
        """Close the socket (FIN)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self.sock.close()

    def reset(self) -> None:
        """Drop the connection abruptly: a TCP RST, as a crashed client would."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Wakes the reader thread without sending anything; the socket is only really closed
            # (with a RST, as lingering is off) once no thread is blocked in recv on it.
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        self._thread.join(timeout=5)
        self.sock.close()


def bodies(frames: Iterable[StompFrame]) -> list[str]:
    """The text bodies of some frames, in order: what scenarios compare."""
    return [frame.text for frame in frames]
