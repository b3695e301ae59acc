"""One STOMP client connection: frame handling, replies in order, heart-beats.

Replies that confirm something (CONNECTED, RECEIPT) go through an ordered outbox: an entry waits
for its journal future when it has one (the journal resolves it only after the fsync and a passing
fence check) and otherwise runs the fence check itself just before the write. ERROR frames take
the same queue so they never overtake an earlier RECEIPT. MESSAGE frames are written directly by
dispatch, which runs its own fence check per round.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.broker.core import AckMode, Broker, BrokerError, Subscription, Transaction
from harness.broker.epoch import Fence
from harness.broker.frames import (
    SUPPORTED_VERSIONS,
    V1_0,
    V1_2,
    Frame,
    FrameError,
    FrameParser,
    encode_frame,
    escape_header,
)
from harness.broker.message import Message

SERVER_NAME = "pybroker/0.1"
CONNECT_TIMEOUT = 30.0  # ActiveMQ's connectAttemptTimeout
HEARTBEAT_GRACE = 1.5  # ActiveMQ's hbGracePeriodMultiplier: tolerated silence = 1.5 x interval

# Headers with protocol meaning that are not passed through from SEND to MESSAGE.
_PROTOCOL_HEADERS = frozenset(
    {
        "destination",
        "message-id",
        "subscription",
        "ack",
        "redelivered",
        "persistent",
        "receipt",
        "transaction",
        "content-length",
    }
)
_TRUE = frozenset({"true"})  # like ActiveMQ (Boolean.parseBoolean)


class ProtocolError(Exception):
    """A frame the broker refuses: ERROR frame, then the connection is closed."""


@dataclass
class ConnectionContext:
    """What a connection shares with the master term that accepted it."""

    broker: Broker
    fence: Fence
    log: logging.Logger
    connections: set[StompConnection] = field(default_factory=set)
    session_prefix: str = "pybroker"
    _sessions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_session(self) -> str:
        return f"{self.session_prefix}-{next(self._sessions)}"


@dataclass
class _Reply:
    data: bytes
    waits_for: asyncio.Future[None] | None
    fenced: bool  # run the fence check before writing (confirmations without a journal future)
    close_after: bool = False


class StompConnection(asyncio.Protocol):
    def __init__(
        self,
        ctx: ConnectionContext,
        max_frame_size: int,
        admit: Callable[[StompConnection], bool] | None = None,
        on_closed: Callable[[StompConnection], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.broker = ctx.broker
        self.parser = FrameParser(V1_0, max_frame_size)
        self.version = V1_0
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.session: str | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self._by_serial: dict[str, Subscription] = {}
        self._serial: dict[Subscription, str] = {}
        self._serials = itertools.count(1)
        self.transactions: dict[str, Transaction] = {}
        self._outbox: deque[_Reply] = deque()
        self._waiting_on: asyncio.Future[None] | None = None
        self._writable = True
        self._closing = False  # no more frames are processed (DISCONNECT, ERROR, teardown)
        self.closed = False
        self._last_read = time.monotonic()
        self._last_write = time.monotonic()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._admit = admit
        self._admitted = False
        self._on_closed = on_closed

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if self._admit is not None and not self._admit(self):
            self._closing = True
            transport.abort()
            return
        self._admitted = True
        self.ctx.connections.add(self)
        loop = asyncio.get_running_loop()
        self._timers["connect"] = loop.call_later(CONNECT_TIMEOUT, self._connect_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._closing = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.ctx.connections.discard(self)
        self._release_all()
        if self._admitted and self._on_closed is not None:
            self._on_closed(self)

    def data_received(self, data: bytes) -> None:
        self._last_read = time.monotonic()
        if self._closing:
            return
        if self.ctx.fence.deposed:
            self.abort()
            return
        try:
            frames = self.parser.feed(data)
        except FrameError as exc:
            self._error(str(exc), None)
            return
        for frame in frames:
            if self._closing:
                return
            self._handle(frame)

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        if not self._closing:
            self.broker.wake(sub.destination for sub in self.subscriptions.values())

    # -- core.Client ----------------------------------------------------------------------------

    def can_receive(self) -> bool:
        return self._writable and not self._closing

    def deliver(self, subscription: Subscription, message: Message) -> None:
        version = self.version
        cached = message.encoded.get(version)
        if cached is None:
            cached = self._encode_message_headers(message, version)
            message.encoded[version] = cached
        lines = [f"MESSAGE\nsubscription:{escape_header(subscription.sub_id, version)}\n"]
        if version == V1_2 and subscription.explicit_ack:
            ack = f"{self._serial[subscription]}:{message.message_id}"
            lines.append(f"ack:{escape_header(ack, version)}\n")
        if message.redelivered:
            lines.append("redelivered:true\n")
        head = "".join(lines).encode("utf-8") + cached
        if message.body:
            head += f"content-length:{len(message.body)}\n".encode()
        self._write(head + b"\n" + message.body + b"\x00")

    @staticmethod
    def _encode_message_headers(message: Message, version: str) -> bytes:
        lines = [
            f"message-id:{escape_header(message.message_id, version)}",
            f"destination:{escape_header(message.destination, version)}",
        ]
        if message.persistent:
            lines.append("persistent:true")
        for name, value in message.headers.items():
            lines.append(f"{escape_header(name, version)}:{escape_header(value, version)}")
        return ("\n".join(lines) + "\n").encode("utf-8")

    # -- writing --------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)
            self._last_write = time.monotonic()

    def _reply(
        self,
        frame: Frame,
        waits_for: asyncio.Future[None] | None = None,
        fenced: bool = True,
        close_after: bool = False,
    ) -> None:
        self._outbox.append(_Reply(encode_frame(frame, self.version), waits_for, fenced, close_after))
        self._pump()

    def _pump(self, _done: asyncio.Future[None] | None = None) -> None:
        while self._outbox and not self.closed:
            reply = self._outbox[0]
            fut = reply.waits_for
            if fut is not None:
                if not fut.done():
                    if fut is not self._waiting_on:
                        self._waiting_on = fut
                        fut.add_done_callback(self._pump)
                    return
                if fut.cancelled() or fut.exception() is not None:
                    # The journal failed or this node was deposed: confirm nothing; the server
                    # closes every connection.
                    self._closing = True
                    self._outbox.clear()
                    return
            elif reply.fenced and not self.ctx.fence.check():
                self._closing = True
                self._outbox.clear()
                return
            self._outbox.popleft()
            self._write(reply.data)
            if reply.close_after:
                self.close()
                return

    def close(self) -> None:
        """Close after the buffered data is written."""
        self._closing = True
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, unsent data included (used when the term ends)."""
        self._closing = True
        self._outbox.clear()
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- frames ---------------------------------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        command = frame.command
        receipt = frame.headers.get("receipt")
        try:
            if self.session is None:
                if command not in ("CONNECT", "STOMP"):
                    raise ProtocolError(f"Received {command} before CONNECT")
                self._on_connect(frame)
                return
            if command in ("CONNECT", "STOMP"):
                raise ProtocolError("Already connected")
            handler = _HANDLERS.get(command)
            if handler is None:
                raise ProtocolError(f"Unknown STOMP action: {command}")
            waits_for = handler(self, frame)
            if receipt is not None and command != "DISCONNECT":
                self._reply(Frame("RECEIPT", {"receipt-id": receipt}), waits_for, fenced=waits_for is None)
        except (ProtocolError, BrokerError) as exc:
            self._error(str(exc), receipt, frame)

    def _error(self, message: str, receipt: str | None, frame: Frame | None = None) -> None:
        self.ctx.log.info("Client %s: %s; sending ERROR and closing", self.peer, message)
        headers = {"message": message, "content-type": "text/plain"}
        if receipt is not None:
            headers["receipt-id"] = receipt
        body = message.encode()
        if frame is not None:
            body += f"\n\nin {frame.command} frame".encode()
        self._closing = True
        self._reply(Frame("ERROR", headers, body), fenced=False, close_after=True)

    def _on_connect(self, frame: Frame) -> None:
        if not self.ctx.fence.check():
            self.abort()  # deposed: do not accept the connection at all
            return
        accept = frame.headers.get("accept-version")
        if accept is None:
            version = V1_0
        else:
            offered = {v.strip() for v in accept.split(",")}
            common = [v for v in SUPPORTED_VERSIONS if v in offered]
            if not common:
                headers = {
                    "version": ",".join(SUPPORTED_VERSIONS),
                    "message": "Supported protocol versions are " + ",".join(SUPPORTED_VERSIONS),
                    "content-type": "text/plain",
                }
                self._closing = True
                self._reply(
                    Frame("ERROR", headers, b"Supported protocol versions are 1.0,1.1,1.2"),
                    fenced=False,
                    close_after=True,
                )
                return
            version = common[-1]
        send_every, expect_every = 0, 0
        if version != V1_0:
            raw = frame.headers.get("heart-beat", "0,0")
            try:
                cx, cy = (int(part) for part in raw.split(","))
                if cx < 0 or cy < 0:
                    raise ValueError(raw)
            except ValueError:
                raise ProtocolError(f"Invalid heart-beat header: {raw!r}") from None
            # The client can send every cx ms and wants to hear from us every cy ms: agree to both.
            send_every, expect_every = cy, cx
        self.version = version
        self.parser.version = version
        self.session = self.ctx.next_session()
        connect_timer = self._timers.pop("connect", None)
        if connect_timer is not None:
            connect_timer.cancel()
        headers = {"version": version, "session": self.session, "server": SERVER_NAME}
        if version != V1_0:
            headers["heart-beat"] = f"{send_every},{expect_every}"
        self._reply(Frame("CONNECTED", headers))
        if send_every > 0:
            self._start_heartbeat_out(send_every / 1000.0)
        if expect_every > 0:
            self._start_heartbeat_in(expect_every / 1000.0)

    def _on_send(self, frame: Frame) -> asyncio.Future[None] | None:
        destination = _required(frame, "destination")
        persistent = frame.headers.get("persistent", "").lower() in _TRUE
        headers = {k: v for k, v in frame.headers.items() if k not in _PROTOCOL_HEADERS}
        return self.broker.send(destination, headers, frame.body, persistent, self._transaction(frame))

    def _on_subscribe(self, frame: Frame) -> None:
        destination = _required(frame, "destination")
        sub_id = frame.headers.get("id")
        if sub_id is None:
            if self.version != V1_0:
                raise ProtocolError("SUBSCRIBE requires an id header")
            sub_id = destination
        if sub_id in self.subscriptions:
            raise ProtocolError(f"Duplicate subscription id {sub_id!r}")
        try:
            mode = AckMode(frame.headers.get("ack", "auto"))
        except ValueError:
            raise ProtocolError(f"Unsupported ack mode {frame.headers.get('ack')!r}") from None
        for header in ("selector", "activemq.subscriptionName", "durable-subscription-name"):
            if header in frame.headers:
                raise ProtocolError(f"SUBSCRIBE header {header!r} is not supported by pybroker yet")
        for header in ("activemq.exclusive", "activemq.retroactive", "browser"):
            if frame.headers.get(header, "").lower() in _TRUE:
                raise ProtocolError(f"SUBSCRIBE header {header}:true is not supported by pybroker yet")
        raw_prefetch = frame.headers.get("activemq.prefetchSize")
        prefetch = 1000
        if raw_prefetch is not None:
            try:
                prefetch = int(raw_prefetch)
            except ValueError:
                raise ProtocolError(f"Invalid activemq.prefetchSize {raw_prefetch!r}") from None
        sub = self.broker.subscribe(self, sub_id, destination, mode, prefetch)
        serial = str(next(self._serials))
        self.subscriptions[sub_id] = sub
        self._by_serial[serial] = sub
        self._serial[sub] = serial

    def _on_unsubscribe(self, frame: Frame) -> None:
        sub_id = frame.headers.get("id")
        if sub_id is None and self.version == V1_0:
            sub_id = frame.headers.get("destination")
        if sub_id is None:
            raise ProtocolError("UNSUBSCRIBE requires an id header")
        sub = self.subscriptions.pop(sub_id, None)
        if sub is None:
            raise ProtocolError(f"No subscription matched id {sub_id!r}")
        self._by_serial.pop(self._serial.pop(sub), None)
        self.broker.unsubscribe(sub)

    def _find_ack_target(self, frame: Frame) -> tuple[Subscription, str]:
        if self.version == V1_2:
            ack_id = _required(frame, "id")
            serial, sep, message_id = ack_id.partition(":")
            sub = self._by_serial.get(serial) if sep else None
            if sub is not None and message_id in sub.inflight:
                return sub, message_id
            message_id = ack_id  # lenient: a message-id given where the ack id was expected
        else:
            message_id = _required(frame, "message-id")
            sub_id = frame.headers.get("subscription")
            if sub_id is not None and sub_id in self.subscriptions:
                return self.subscriptions[sub_id], message_id
        for sub in self.subscriptions.values():
            if message_id in sub.inflight:
                return sub, message_id
        raise ProtocolError(f"Unexpected {frame.command} received for message-id [{message_id}]")

    def _on_ack(self, frame: Frame) -> asyncio.Future[None] | None:
        sub, message_id = self._find_ack_target(frame)
        return self.broker.ack(sub, message_id, self._transaction(frame))

    def _on_nack(self, frame: Frame) -> asyncio.Future[None] | None:
        if self.version == V1_0:
            raise ProtocolError("NACK is not part of STOMP 1.0")
        sub, message_id = self._find_ack_target(frame)
        return self.broker.nack(sub, message_id, self._transaction(frame))

    def _on_begin(self, frame: Frame) -> None:
        tx_id = _required(frame, "transaction")
        if tx_id in self.transactions:
            raise ProtocolError(f"Transaction {tx_id!r} is already started")
        self.transactions[tx_id] = Transaction(tx_id)

    def _on_commit(self, frame: Frame) -> asyncio.Future[None] | None:
        tx = self._pop_transaction(frame)
        return self.broker.commit(tx)

    def _on_abort(self, frame: Frame) -> None:
        self.broker.abort(self._pop_transaction(frame))

    def _on_disconnect(self, frame: Frame) -> None:
        self._closing = True
        self._release_all()
        receipt = frame.headers.get("receipt")
        if receipt is not None:
            self._reply(Frame("RECEIPT", {"receipt-id": receipt}), close_after=True)
        else:
            self._outbox.append(_Reply(b"", None, fenced=False, close_after=True))
            self._pump()

    def _transaction(self, frame: Frame) -> Transaction | None:
        tx_id = frame.headers.get("transaction")
        if tx_id is None:
            return None
        tx = self.transactions.get(tx_id)
        if tx is None:
            raise ProtocolError(f"Invalid transaction id: {tx_id}")
        return tx

    def _pop_transaction(self, frame: Frame) -> Transaction:
        tx_id = _required(frame, "transaction")
        tx = self.transactions.pop(tx_id, None)
        if tx is None:
            raise ProtocolError(f"Invalid transaction id: {tx_id}")
        return tx

    def _release_all(self) -> None:
        """Abort open transactions and close subscriptions: unacknowledged messages are redelivered."""
        if self.broker.closed:
            return
        for tx in self.transactions.values():
            self.broker.abort(tx)
        self.transactions.clear()
        for sub in self.subscriptions.values():
            self.broker.unsubscribe(sub)
        self.subscriptions.clear()
        self._by_serial.clear()
        self._serial.clear()

    # -- timers ---------------------------------------------------------------------------------

    def _connect_timeout(self) -> None:
        if self.session is None and not self.closed:
            self.ctx.log.info("Client %s sent no CONNECT within %.0f s; closing", self.peer, CONNECT_TIMEOUT)
            self.abort()

    def _start_heartbeat_out(self, interval: float) -> None:
        loop = asyncio.get_running_loop()

        def tick() -> None:
            if self.closed:
                return
            if time.monotonic() - self._last_write >= interval * 0.9:
                self._write(b"\n")
            self._timers["heartbeat-out"] = loop.call_later(interval, tick)

        self._timers["heartbeat-out"] = loop.call_later(interval, tick)

    def _start_heartbeat_in(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        allowed = interval * HEARTBEAT_GRACE

        def check() -> None:
            if self.closed:
                return
            silent = time.monotonic() - self._last_read
            if silent > allowed:
                self.ctx.log.info(
                    "Client %s silent for %.0f ms (heart-beat %d ms); closing",
                    self.peer,
                    silent * 1000,
                    interval * 1000,
                )
                self.abort()
                return
            self._timers["heartbeat-in"] = loop.call_later(max(0.05, allowed - silent), check)

        self._timers["heartbeat-in"] = loop.call_later(allowed, check)


def _required(frame: Frame, name: str) -> str:
    value = frame.headers.get(name)
    if value is None or value == "":
        raise ProtocolError(f"{frame.command} requires a {name} header")
    return value


_HANDLERS: dict[str, Callable[[StompConnection, Frame], asyncio.Future[None] | None]] = {
    "SEND": StompConnection._on_send,
    "SUBSCRIBE": StompConnection._on_subscribe,
    "UNSUBSCRIBE": StompConnection._on_unsubscribe,
    "ACK": StompConnection._on_ack,
    "NACK": StompConnection._on_nack,
    "BEGIN": StompConnection._on_begin,
    "COMMIT": StompConnection._on_commit,
    "ABORT": StompConnection._on_abort,
    "DISCONNECT": StompConnection._on_disconnect,
}

__all__ = ["ConnectionContext", "ProtocolError", "StompConnection"]
