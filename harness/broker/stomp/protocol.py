"""The STOMP rules of one client connection, the way ActiveMQ's STOMP transport applies them.

CONNECT (version negotiation, heart-beats, authentication, client ids), SEND, SUBSCRIBE and its
ActiveMQ options, ACK/NACK in the three versions' forms, transactions, DISCONNECT, temporary
destinations, and MESSAGE frames for the core's deliveries. The bytes, the ordered outbox and the
timers are the transport's (transport.py).

Errors follow ActiveMQ: an ERROR frame with a ``message`` header (and the ``receipt-id`` of the
frame that caused it). Broken input (a malformed frame, an unknown command, an oversize frame, a
bad header value), a refused CONNECT and a peer that stalls in the middle of a frame close the
connection after the ERROR; a request the broker refuses (an unknown ack id, a bad selector, an
unsupported header) does not, like ActiveMQ's non-fatal ProtocolException.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.broker.core.auth import AuthenticationFailed, Authenticator
from harness.broker.core.broker import AckMode, Broker, RequestRefused, Subscription, Transaction
from harness.broker.core.selector import SelectorError
from harness.broker.core.selector import parse as parse_selector
from harness.broker.fence import Fence
from harness.broker.message import (
    BROKER_PATH_HEADER,
    REMOTE_TEMP_QUEUE_PREFIX,
    REMOTE_TEMP_TOPIC_PREFIX,
    TEMP_QUEUE_PREFIX,
    TEMP_TOPIC_PREFIX,
    Message,
)
from harness.broker.stomp.frames import (
    SUPPORTED_VERSIONS,
    V1_0,
    V1_2,
    Frame,
    encode_frame,
    escape_header,
)
from harness.broker.stomp.transport import STALL_TIMEOUT, OutboxEntry, StompTransport

SERVER_NAME = "pybroker/0.1"
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
        "expires",
        "priority",
        "timestamp",
        "JMSXUserID",
        "browser",
    }
)
_SCHEDULER_UNSUPPORTED = ("AMQ_SCHEDULED_PERIOD", "AMQ_SCHEDULED_REPEAT", "AMQ_SCHEDULED_CRON")
# SUBSCRIBE's activemq.* options (ActiveMQ sets ConsumerInfo properties from them).
_SUBSCRIBE_OPTIONS = frozenset(
    {
        "activemq.prefetchSize",
        "activemq.exclusive",
        "activemq.subscriptionName",
        "activemq.priority",
        "activemq.noLocal",
        "activemq.dispatchAsync",  # pybroker always dispatches asynchronously: nothing to change
    }
)
_SUBSCRIBE_REFUSED = {
    "durable-subscription-name": "use activemq.subscriptionName (ActiveMQ Classic's header)",
    "transformation": "pybroker passes bodies through unchanged",
}


class ProtocolError(Exception):
    """A frame the broker refuses; ``fatal`` ones close the connection after the ERROR frame."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass
class ConnectionContext:
    """What a connection shares with the master term that accepted it."""

    broker: Broker
    fence: Fence
    log: logging.Logger
    connections: set[StompConnection] = field(default_factory=set)
    session_prefix: str = "pybroker"
    authentication: Authenticator | None = None
    scheduler_support: bool = False
    client_ids: dict[str, StompConnection] = field(default_factory=dict)
    _sessions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_session(self) -> str:
        return f"{self.session_prefix}-{next(self._sessions)}"


def _boolean(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"  # Boolean.parseBoolean


def _integer(frame: Frame, name: str, low: int | None = None, high: int | None = None) -> int | None:
    raw = frame.headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ProtocolError(f"Invalid {name} header {raw!r}: not an integer", fatal=True) from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ProtocolError(f"Invalid {name} header {raw!r}: must be {bounds}", fatal=True)
    return value


class StompConnection(StompTransport):
    def __init__(
        self,
        ctx: ConnectionContext,
        max_frame_size: int,
        admit: Callable[[StompTransport], bool] | None = None,
        on_closed: Callable[[StompTransport], None] | None = None,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        super().__init__(ctx.fence, ctx.log, max_frame_size, admit, on_closed, stall_timeout)
        self.ctx = ctx
        self.broker = ctx.broker
        self.session: str | None = None
        self.connection_id = ctx.next_session()
        self.client_id: str | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self._by_serial: dict[str, Subscription] = {}
        self._serial: dict[Subscription, str] = {}
        self._serials = itertools.count(1)
        self.transactions: dict[str, Transaction] = {}
        self._temps: dict[str, str] = {}  # /temp-queue/x -> /remote-temp-queue/<connection>:<n>
        self._temp_names: dict[str, str] = {}  # the reverse
        self._temp_serial = itertools.count(1)

    # -- the transport's hooks ------------------------------------------------------------------

    def _opened(self) -> None:
        self.ctx.connections.add(self)

    def _released(self) -> None:
        self.ctx.connections.discard(self)
        self._release_all()

    def _writable_again(self) -> None:
        self.broker.wake(sub.container for sub in self.subscriptions.values())

    def _connected(self) -> bool:
        return self.session is not None

    # -- core.Client ----------------------------------------------------------------------------

    def can_receive(self) -> bool:
        return self._writable and not self._closing

    def deliver(self, subscription: Subscription, message: Message) -> None:
        version = self.version
        cached = message.encoded.get(version)
        if cached is None:
            cached = self._encode_message_headers(message, version)
            if not self._is_temporary(message):
                message.encoded[version] = cached
        lines = [f"MESSAGE\nsubscription:{escape_header(subscription.sub_id, version)}\n"]
        if version == V1_2 and subscription.explicit_ack:
            ack = f"{self._serial[subscription]}:{message.message_id}"
            lines.append(f"ack:{escape_header(ack, version)}\n")
        if message.redelivered:
            lines.append("redelivered:true\n")
        if message.group_first and message.group_id is not None and not subscription.browser:
            lines.append("JMSXGroupFirstForConsumer:true\n")
        head = "".join(lines).encode("utf-8") + cached
        if message.body:
            head += f"content-length:{len(message.body)}\n".encode()
        self._write(head + b"\n" + message.body + b"\x00")

    def browse_end(self, subscription: Subscription) -> None:
        headers = {
            "subscription": subscription.sub_id,
            "message-id": "0",
            "browser": "end",
            "destination": self._present(subscription.destination),
        }
        self._write(encode_frame(Frame("MESSAGE", headers), self.version))

    @staticmethod
    def _is_temporary(message: Message) -> bool:
        reply_to = message.headers.get("reply-to", "")
        return any(
            name.startswith(REMOTE_TEMP_QUEUE_PREFIX) or name.startswith(REMOTE_TEMP_TOPIC_PREFIX)
            for name in (message.destination, reply_to)
        )

    def _encode_message_headers(self, message: Message, version: str) -> bytes:
        lines = [
            f"message-id:{escape_header(message.message_id, version)}",
            f"destination:{escape_header(self._present(message.destination), version)}",
        ]
        if message.persistent:
            lines.append("persistent:true")
        lines.append(f"expires:{message.expires}")
        lines.append(f"priority:{message.priority}")
        lines.append(f"timestamp:{message.timestamp}")
        for name, value in message.headers.items():
            if name == BROKER_PATH_HEADER:
                continue
            if name == "reply-to":
                value = self._present(value)
            lines.append(f"{escape_header(name, version)}:{escape_header(value, version)}")
        return ("\n".join(lines) + "\n").encode("utf-8")

    # -- temporary destinations -----------------------------------------------------------------

    def _resolve(self, name: str) -> str:
        """A destination as the broker knows it: this connection's /temp-queue/x gets its real name."""
        for own, remote in (
            (TEMP_QUEUE_PREFIX, REMOTE_TEMP_QUEUE_PREFIX),
            (TEMP_TOPIC_PREFIX, REMOTE_TEMP_TOPIC_PREFIX),
        ):
            if name.startswith(own) and len(name) > len(own):
                real = self._temps.get(name)
                if real is None:
                    real = f"{remote}{self.connection_id}:{next(self._temp_serial)}"
                    self.broker.create_temporary(real, self)
                    self._temps[name] = real
                    self._temp_names[real] = name
                return real
        return name

    def _present(self, name: str) -> str:
        """A destination as this client knows it (its own temporary destinations by their short name)."""
        return self._temp_names.get(name, name)

    # -- frames ---------------------------------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        command = frame.command
        receipt = frame.headers.get("receipt")
        try:
            if command in ("CONNECT", "STOMP"):
                self._on_connect(frame)
                return
            handler = _HANDLERS.get(command)
            if handler is None:
                raise ProtocolError(f"Unknown STOMP action: {command}", fatal=True)
            if self.session is None:
                raise ProtocolError("Not connected.")
            waits_for = handler(self, frame)
            if receipt is not None and command != "DISCONNECT":
                self._reply(Frame("RECEIPT", {"receipt-id": receipt}), waits_for, fenced=waits_for is None)
        except ProtocolError as exc:
            self._error(str(exc), receipt, exc.fatal)
        except RequestRefused as exc:
            self._error(str(exc), receipt, fatal=False)

    def _on_connect(self, frame: Frame) -> None:
        if self.session is not None:
            raise ProtocolError("Already connected.")
        if not self.ctx.fence.check():
            self.abort()  # deposed: do not accept the connection at all
            return
        headers = frame.headers
        accept = headers.get("accept-version")
        if accept is None:
            version = V1_0
        else:
            offered = {v.strip() for v in accept.split(",")}
            common = [v for v in SUPPORTED_VERSIONS if v in offered]
            if not common:
                supported = ", ".join(reversed(SUPPORTED_VERSIONS))
                message = f"Invalid Protocol version[{accept}], supported versions are: [{supported}]"
                self._closing = True
                error = {"version": ",".join(SUPPORTED_VERSIONS), "message": message, "content-type": "text/plain"}
                self._reply(Frame("ERROR", error, message.encode()), fenced=False, close_after=True)
                return
            version = common[-1]
        for name in headers:
            if name.startswith("activemq."):
                raise ProtocolError(f"CONNECT header {name} is not supported by pybroker", fatal=True)
        raw = headers.get("heart-beat", "0,0")
        try:
            cx, cy = (int(part) for part in raw.split(","))
            if cx < 0 or cy < 0:
                raise ValueError(raw)
        except ValueError:
            raise ProtocolError(
                f"Invalid heart-beat header: {raw!r} (expected two non-negative integers: send,receive in ms)",
                fatal=True,
            ) from None
        if self.ctx.authentication is not None:
            try:
                principal = self.ctx.authentication.authenticate(headers.get("login"), headers.get("passcode"))
            except AuthenticationFailed as exc:
                raise ProtocolError(str(exc), fatal=True) from None
            self.ctx.log.debug("Client %s authenticated as %s %s", self.peer, principal.username, principal.groups)
        client_id = headers.get("client-id")
        if client_id:
            holder = self.ctx.client_ids.get(client_id)
            if holder is not None and holder is not self and not holder.closed:
                raise ProtocolError(
                    f"Broker: {self.broker.name} - Client: {client_id} already connected from tcp://{holder.peer}",
                    fatal=True,
                )
            self.ctx.client_ids[client_id] = self
            self.client_id = client_id
        # The client can send every cx ms and wants to hear from us every cy ms: agree to both.
        send_every, expect_every = cy, cx
        self.version = version
        self.parser.version = version
        self.session = client_id or self.connection_id
        connect_timer = self._timers.pop("connect", None)
        if connect_timer is not None:
            connect_timer.cancel()
        reply = {
            "version": version,
            "session": self.session,
            "server": SERVER_NAME,
            "heart-beat": f"{send_every},{expect_every}",
        }
        request_id = headers.get("request-id") or headers.get("receipt")
        if request_id is not None:
            reply["response-id"] = request_id
            reply["receipt-id"] = request_id
        self._reply(Frame("CONNECTED", reply))
        if send_every > 0:
            self._start_heartbeat_out(send_every / 1000.0)
        if expect_every > 0:
            self._start_heartbeat_in(expect_every / 1000.0)

    def _on_send(self, frame: Frame) -> asyncio.Future[None] | None:
        raw_destination = frame.headers.get("destination")
        if not raw_destination:
            raise ProtocolError("SEND received without a Destination specified!")
        if "transformation" in frame.headers:
            raise ProtocolError(
                "SEND header transformation is not supported by pybroker: bodies pass through unchanged"
            )
        destination = self._resolve(raw_destination)
        persistent = _boolean(frame.headers.get("persistent"))
        priority = _integer(frame, "priority", 0, 9)
        expires = _integer(frame, "expires", 0)
        timestamp = _integer(frame, "timestamp", 0)
        group_seq = _integer(frame, "JMSXGroupSeq")
        deliver_at = 0
        if self.ctx.scheduler_support:
            for name in _SCHEDULER_UNSUPPORTED:
                if name in frame.headers:
                    raise ProtocolError(
                        f"SEND header {name} is not supported by pybroker (only AMQ_SCHEDULED_DELAY is)"
                    )
            delay = _integer(frame, "AMQ_SCHEDULED_DELAY", 0)
            if delay:
                deliver_at = self.broker.now_ms() + delay
        # A client cannot claim a broker path: only a bridge sets it.
        headers = {k: v for k, v in frame.headers.items() if k not in _PROTOCOL_HEADERS and k != BROKER_PATH_HEADER}
        if "reply-to" in headers:
            headers["reply-to"] = self._resolve(headers["reply-to"])
        return self.broker.send(
            destination,
            headers,
            frame.body,
            persistent,
            self._transaction(frame),
            priority=4 if priority is None else priority,
            expires=expires or 0,
            timestamp=timestamp or 0,
            deliver_at=deliver_at,
            group_id=frame.headers.get("JMSXGroupID"),
            group_seq=group_seq or 0,
            publisher=self,
        )

    def _on_subscribe(self, frame: Frame) -> asyncio.Future[None] | None:
        headers = frame.headers
        sub_id = headers.get("id")
        raw_destination = headers.get("destination")
        if self.version != V1_0 and sub_id is None:
            raise ProtocolError("SUBSCRIBE received without a subscription id!")
        if not raw_destination:
            raise ProtocolError("Invalid empty or 'null' Destination header")
        if sub_id is None:
            sub_id = raw_destination
        if sub_id in self.subscriptions:
            raise ProtocolError(f"Duplicate subscription id {sub_id!r}: UNSUBSCRIBE it first")
        for name, reason in _SUBSCRIBE_REFUSED.items():
            if name in headers:
                raise ProtocolError(f"SUBSCRIBE header {name} is not supported by pybroker: {reason}")
        for name in headers:
            if name.startswith("activemq.") and name not in _SUBSCRIBE_OPTIONS:
                raise ProtocolError(f"SUBSCRIBE header {name} is not supported by pybroker")
        try:
            mode = AckMode(headers.get("ack", "auto"))
        except ValueError:
            raise ProtocolError(
                f"Unsupported ack mode {headers.get('ack')!r}: use auto, client or client-individual"
            ) from None
        browser = _boolean(headers.get("browser"))
        if browser and self.version == V1_0:
            raise ProtocolError("Queue Browser feature only valid for Stomp v1.1+ clients!")
        selector = None
        if "selector" in headers:
            try:
                selector = parse_selector(headers["selector"])
            except SelectorError as exc:
                raise ProtocolError(f"Invalid selector [{headers['selector']}]: {exc}") from None
        prefetch = None
        raw_prefetch = headers.get("activemq.prefetchSize")
        if raw_prefetch is not None:
            try:
                prefetch = int(raw_prefetch)
            except ValueError:
                raise ProtocolError(f"Invalid activemq.prefetchSize {raw_prefetch!r}: not an integer") from None
            if prefetch < 1:
                raise ProtocolError(
                    f"Invalid activemq.prefetchSize {raw_prefetch!r}: must be >= 1 (STOMP consumers cannot pull)"
                )
        priority = 0
        raw_priority = headers.get("activemq.priority")
        if raw_priority is not None:
            try:
                priority = int(raw_priority)
            except ValueError:
                priority = -1
            if not 0 <= priority <= 127:
                raise ProtocolError(f"Invalid activemq.priority {raw_priority!r}: must be 0..127")
        destination = self._resolve(raw_destination)
        durable_name = headers.get("activemq.subscriptionName")
        waits_for = None
        if durable_name is not None:
            if destination.startswith(("/queue/", REMOTE_TEMP_QUEUE_PREFIX)):
                raise ProtocolError("Invalid Subscription: cannot durably subscribe to a Queue destination!")
            if self.client_id is None:
                raise ProtocolError(
                    f"Durable subscription activemq.subscriptionName={durable_name!r} needs a client-id header "
                    "on CONNECT (it names the subscription together with the client id)"
                )
            sub, waits_for = self.broker.subscribe_durable(
                self,
                sub_id,
                self.client_id,
                durable_name,
                destination,
                mode,
                prefetch,
                selector=selector,
                no_local=_boolean(headers.get("activemq.noLocal")),
            )
        else:
            sub = self.broker.subscribe(
                self,
                sub_id,
                destination,
                mode,
                prefetch,
                selector=selector,
                exclusive=_boolean(headers.get("activemq.exclusive")),
                priority=priority,
                no_local=_boolean(headers.get("activemq.noLocal")),
                browser=browser,
            )
        serial = str(next(self._serials))
        self.subscriptions[sub_id] = sub
        self._by_serial[serial] = sub
        self._serial[sub] = serial
        return waits_for

    def _on_unsubscribe(self, frame: Frame) -> asyncio.Future[None] | None:
        headers = frame.headers
        sub_id = headers.get("id")
        if self.version != V1_0 and sub_id is None:
            raise ProtocolError("UNSUBSCRIBE received without a subscription id!")
        durable_name = headers.get("activemq.subscriptionName")
        if durable_name is not None:
            # Like ActiveMQ: the name deletes the durable subscription (refused while it is active).
            if self.client_id is None:
                raise ProtocolError(
                    f"UNSUBSCRIBE activemq.subscriptionName={durable_name!r} needs a client-id header on CONNECT"
                )
            return self.broker.remove_durable(self.client_id, durable_name)
        sub = None
        if sub_id is not None:
            sub = self.subscriptions.get(sub_id)
        else:
            destination = headers.get("destination")
            if destination is None:
                raise ProtocolError("Must specify the subscriptionId or the destination you are unsubscribing from")
            destination = self._resolve(destination)
            for candidate_id, candidate in self.subscriptions.items():
                if candidate.destination == destination:
                    sub_id, sub = candidate_id, candidate
                    break
        if sub is None or sub_id is None:
            raise ProtocolError("No subscription matched.")
        del self.subscriptions[sub_id]
        self._by_serial.pop(self._serial.pop(sub), None)
        self.broker.unsubscribe(sub)
        return None

    def _find_ack_target(self, frame: Frame) -> tuple[Subscription, str]:
        verb = frame.command
        headers = frame.headers
        if verb == "NACK" and self.version == V1_0:
            raise ProtocolError("NACK received but connection is in v1.0 mode.")
        if self.version == V1_2:
            ack_id = headers.get("id")
            if ack_id is None:
                what = "a ack id for acknowledge" if verb == "ACK" else "an ack header to acknowledge"
                raise ProtocolError(f"{verb} received without {what}!")
            serial, sep, message_id = ack_id.partition(":")
            sub = self._by_serial.get(serial) if sep else None
            if sub is not None and message_id in sub.inflight:
                return sub, message_id
            message_id = ack_id  # lenient: a message-id given where the ack id was expected
        else:
            message_id = headers.get("message-id", "")
            if not message_id:
                raise ProtocolError(f"{verb} received without a message-id to acknowledge!")
            sub_id = headers.get("subscription")
            if sub_id is None and self.version != V1_0:
                raise ProtocolError(f"{verb} received without a subscription id for acknowledge!")
            if sub_id is not None:
                sub = self.subscriptions.get(sub_id)
                if sub is not None and message_id in sub.inflight:
                    return sub, message_id
                raise ProtocolError(f"Unexpected {verb} received for message-id [{message_id}]")
        for sub in self.subscriptions.values():
            if message_id in sub.inflight:
                return sub, message_id
        raise ProtocolError(f"Unexpected {verb} received for message-id [{message_id}]")

    def _on_ack(self, frame: Frame) -> asyncio.Future[None] | None:
        tx = self._transaction(frame)
        sub, message_id = self._find_ack_target(frame)
        return self.broker.ack(sub, message_id, tx)

    def _on_nack(self, frame: Frame) -> asyncio.Future[None] | None:
        tx = self._transaction(frame)
        sub, message_id = self._find_ack_target(frame)
        return self.broker.nack(sub, message_id, tx)

    def _on_begin(self, frame: Frame) -> None:
        tx_id = frame.headers.get("transaction")
        if tx_id is None:
            raise ProtocolError("Must specify the transaction you are beginning")
        if tx_id in self.transactions:
            raise ProtocolError(f"The transaction was already started: {tx_id}")
        self.transactions[tx_id] = Transaction(tx_id)

    def _on_commit(self, frame: Frame) -> asyncio.Future[None] | None:
        return self.broker.commit(self._pop_transaction(frame, "committing"))

    def _on_abort(self, frame: Frame) -> None:
        self.broker.abort(self._pop_transaction(frame, "aborting"))

    def _on_disconnect(self, frame: Frame) -> None:
        self._closing = True
        self._release_all()
        receipt = frame.headers.get("receipt")
        if receipt is not None:
            self._reply(Frame("RECEIPT", {"receipt-id": receipt}), close_after=True)
        else:
            self._outbox.append(OutboxEntry(b"", None, fenced=False, close_after=True))
            self._pump()

    def _transaction(self, frame: Frame) -> Transaction | None:
        tx_id = frame.headers.get("transaction")
        if tx_id is None:
            return None
        tx = self.transactions.get(tx_id)
        if tx is None:
            raise ProtocolError(f"Invalid transaction id: {tx_id}")
        return tx

    def _pop_transaction(self, frame: Frame, verb: str) -> Transaction:
        tx_id = frame.headers.get("transaction")
        if tx_id is None:
            raise ProtocolError(f"Must specify the transaction you are {verb}")
        tx = self.transactions.pop(tx_id, None)
        if tx is None:
            raise ProtocolError(f"Invalid transaction id: {tx_id}")
        return tx

    def _release_all(self) -> None:
        """Abort open transactions, close subscriptions (unacknowledged messages are redelivered),
        delete temporary destinations and give the client id back."""
        if self.client_id is not None and self.ctx.client_ids.get(self.client_id) is self:
            del self.ctx.client_ids[self.client_id]
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
        for real in self._temps.values():
            self.broker.delete_temporary(real)
        self._temps.clear()


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
