"""FailoverConnection: a STOMP client that survives broker failover the way ActiveMQ's failover: does.

stomp.py connects once; when the connection drops it only calls on_disconnected. This class keeps
the client's intent (subscriptions, unconfirmed sends) and replays it on a new stomp.py connection
(a :class:`~harness.client.link.BrokerLink`), following the failover URI's options.

Threads, per FailoverConnection:

* the caller's threads: ``send``/``ack``/... register what they wait for, write their frame on the
  live link (never while holding the state lock) and wait on a condition for the RECEIPT;
* stomp.py's receiver thread (one per link): resolves RECEIPTs and ERRORs, queues MESSAGEs;
* the dispatch thread: runs subscription handlers and listener callbacks in arrival order, so a
  handler may send or ack with a receipt (the receipt arrives on the receiver thread, not blocked);
* the failover thread: connects, reconnects with back-off, resubscribes, resends, probes the
  priority broker. It never runs user code.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from harness.client.backoff import ReconnectSchedule
from harness.client.dispatch import Dispatcher
from harness.client.errors import (
    AckFailed,
    BrokerError,
    ClientError,
    ConnectFailed,
    ConnectionLost,
    ReceiptTimeout,
    SendFailed,
    SendTimeout,
    StaleDelivery,
    TransportFailure,
)
from harness.client.link import BrokerLink, LinkSettings, StompVersion
from harness.client.listener import FailoverListener
from harness.client.records import ClientSubscription, Delivery, ErrorFrame, SendResult
from harness.client.uri import Endpoint, FailoverOptions, FailoverUri, parse_failover_uri

log = logging.getLogger("harness.client")

Handler = Callable[[Delivery], None]
AckMode = Literal["auto", "client", "client-individual"]
ACK_MODES: tuple[str, ...] = ("auto", "client", "client-individual")

State = Literal["new", "connecting", "connected", "reconnecting", "failed", "closed"]
PendingKind = Literal["send", "ack", "nack", "subscribe", "unsubscribe"]


@dataclass(eq=False)
class _Pending:
    """An operation waiting for its RECEIPT. Sends are resent on every new link until confirmed."""

    receipt_id: str
    kind: PendingKind
    command: str
    headers: dict[str, str]
    body: bytes = b""
    # The link it was last written to; None = not written yet (written when a link goes live).
    generation: int | None = None
    transmissions: int = 0
    done: bool = False
    endpoint: str | None = None
    error: ClientError | None = None


@dataclass(eq=False)
class _SubscriptionState:
    subscription: ClientSubscription
    handler: Handler
    # The link the SUBSCRIBE was last written to.
    generation: int | None = None
    frame_headers: dict[str, str] = field(default_factory=dict)


class FailoverConnection:
    """A failover STOMP connection for one client.

    ``uri`` is a failover URI (see :mod:`harness.client.uri`). ``heartbeats`` is STOMP's
    ``(send_ms, receive_ms)``; a missed heart-beat counts as a lost connection. ``connect_timeout``
    (seconds) bounds one attempt: TCP connect plus CONNECTED. ``client_id`` only names log lines and
    threads. Timeouts given to methods are in seconds; the URI's ``timeout`` option is in ms.
    """

    def __init__(
        self,
        uri: str | FailoverUri,
        *,
        login: str | None = None,
        passcode: str | None = None,
        headers: Mapping[str, str] | None = None,
        heartbeats: tuple[int, int] = (0, 0),
        version: StompVersion = "1.2",
        client_id: str = "client",
        listener: FailoverListener | None = None,
        connect_timeout: float = 10.0,
        vhost: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.uri = uri if isinstance(uri, FailoverUri) else parse_failover_uri(uri)
        if version not in ("1.0", "1.1", "1.2"):
            raise ValueError(f"STOMP version {version!r} is not one of 1.0, 1.1, 1.2")
        if version == "1.0" and heartbeats != (0, 0):
            raise ValueError("STOMP 1.0 has no heart-beats: use version 1.1 or 1.2")
        self.client_id = client_id
        self.version: StompVersion = version
        self._settings = LinkSettings(
            version=version,
            login=login,
            passcode=passcode,
            headers=dict(headers or {}),
            heartbeats=heartbeats,
            vhost=vhost,
            connect_timeout=connect_timeout,
        )
        self._schedule = ReconnectSchedule(self.uri.endpoints, self.uri.options, rng)
        self._listeners: list[FailoverListener] = [listener] if listener is not None else []
        # RLock: a link may report its own closing while the caller holds the lock.
        self._cond = threading.Condition(threading.RLock())
        self._state: State = "new"
        self._live: BrokerLink | None = None
        self._lost: BrokerLink | None = None
        self._links: dict[int, BrokerLink] = {}
        self._subs: dict[str, _SubscriptionState] = {}
        self._pending: dict[str, _Pending] = {}
        self._failure: ClientError | None = None
        self._last_errors: dict[str, str] = {}
        self._generations = itertools.count(1)
        self._receipt_numbers = itertools.count(1)
        self._sub_numbers = itertools.count(1)
        self._lost_at: float | None = None
        self._dispatcher = Dispatcher(f"{client_id}-dispatch")
        self._thread: threading.Thread | None = None

    # --- public properties ---

    @property
    def options(self) -> FailoverOptions:
        return self.uri.options

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._live is not None and self._live.usable

    @property
    def current_endpoint(self) -> str | None:
        """``host:port`` of the broker in use, None while (re)connecting."""
        with self._cond:
            return str(self._live.endpoint) if self._live is not None else None

    @property
    def state(self) -> State:
        return self._state

    @property
    def subscriptions(self) -> list[ClientSubscription]:
        with self._cond:
            return [s.subscription for s in self._subs.values()]

    def add_listener(self, listener: FailoverListener) -> None:
        with self._cond:
            self._listeners.append(listener)

    # --- connecting ---

    def connect(self, timeout: float | None = None) -> None:
        """Block until connected. Raises ConnectFailed when startupMaxReconnectAttempts passes have
        failed or ``timeout`` (seconds) elapsed (the client is then disconnected)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._state == "closed":
                raise ConnectFailed(f"{self.client_id}: the connection was disconnected")
            if self._state == "new":
                self._state = "connecting"
                self._dispatcher.start()
                self._thread = threading.Thread(target=self._run, name=f"{self.client_id}-failover", daemon=True)
                self._thread.start()
            while self._state == "connecting":
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            state = self._state
        if state in ("connected", "reconnecting"):
            return
        if state == "failed":
            raise ConnectFailed(str(self._failure))
        if state == "closed":
            raise ConnectFailed(f"{self.client_id}: disconnected while connecting")
        self.disconnect(timeout=0)
        raise ConnectFailed(
            f"{self.client_id}: not connected within {timeout:g} s to {self._endpoint_list()}{self._errors_text()}"
        )

    def _endpoint_list(self) -> str:
        return ", ".join(str(e) for e in self.uri.endpoints)

    def _errors_text(self) -> str:
        if not self._last_errors:
            return ""
        return " (last errors: " + "; ".join(self._last_errors.values()) + ")"

    # --- operations ---

    def send(
        self,
        destination: str,
        body: bytes | str,
        headers: Mapping[str, str] | None = None,
        persistent: bool = True,
        timeout: float | None = None,
    ) -> SendResult:
        """Send with a receipt and wait for it, across failovers (resent on each new connection).

        ``timeout`` (seconds) defaults to the URI's ``timeout`` option (ms; -1 = wait forever).
        Raises SendTimeout, SendFailed (ERROR frame) or ConnectionLost.
        """
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        frame_headers = {str(k): str(v) for k, v in (headers or {}).items()}
        frame_headers["destination"] = destination
        if persistent:
            # ActiveMQ stores a STOMP message only when asked to.
            frame_headers["persistent"] = "true"
        if timeout is None and self.uri.options.timeout_ms > 0:
            timeout = self.uri.options.timeout_ms / 1000.0
        pending = self._start("send", "SEND", frame_headers, payload)
        self._await(pending, timeout)
        return SendResult(pending.receipt_id, pending.endpoint or "", pending.transmissions)

    def subscribe(
        self,
        destination: str,
        handler: Handler,
        ack: AckMode = "client-individual",
        id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ClientSubscription:
        """Subscribe; ``handler`` runs on the dispatch thread for every MESSAGE.

        When connected, waits for the broker's RECEIPT (up to ``timeout``, default the connect
        timeout; a missing receipt is only logged). The subscription is remade after every failover.
        Raises BrokerError if the broker refuses it.
        """
        if ack not in ACK_MODES:
            raise ValueError(f"ack mode {ack!r} is not one of {', '.join(ACK_MODES)}")
        extra = {str(k): str(v) for k, v in (headers or {}).items()}
        with self._cond:
            self._check_open(allow_new=True)
            sub_id = id if id is not None else f"sub-{next(self._sub_numbers)}"
            if sub_id in self._subs:
                raise ClientError(f"{self.client_id}: subscription id {sub_id!r} is already in use")
            subscription = ClientSubscription(sub_id, destination, ack, dict(extra))
            frame_headers = {**extra, "destination": destination, "id": sub_id, "ack": ack}
            state = _SubscriptionState(subscription, handler, None, frame_headers)
            self._subs[sub_id] = state
            link = self._live
            pending = None
            if link is not None:
                state.generation = link.generation
                pending = self._register("subscribe", "SUBSCRIBE", frame_headers, b"", link)
        if link is None or pending is None:
            return subscription
        self._write(link, pending)
        try:
            self._await(pending, timeout if timeout is not None else self._settings.connect_timeout)
        except BrokerError:
            with self._cond:
                self._subs.pop(sub_id, None)
            raise
        except ReceiptTimeout:
            log.warning("%s: no receipt for SUBSCRIBE %s to %s yet", self.client_id, sub_id, destination)
        return subscription

    def unsubscribe(self, id: str, timeout: float | None = None) -> None:
        """Stop a subscription; it is no longer remade. Waits for the receipt when connected."""
        with self._cond:
            state = self._subs.pop(id, None)
            if state is None:
                raise ClientError(f"{self.client_id}: no subscription with id {id!r}")
            link = self._links.get(state.generation) if state.generation is not None else None
            pending = None
            if link is not None and link.is_open:
                pending = self._register("unsubscribe", "UNSUBSCRIBE", {"id": id}, b"", link)
        if link is None or pending is None:
            return
        self._write(link, pending)
        try:
            self._await(pending, timeout if timeout is not None else self._settings.connect_timeout)
        except (ReceiptTimeout, ConnectionLost) as exc:
            log.warning("%s: UNSUBSCRIBE %s unconfirmed: %s", self.client_id, id, exc)

    def ack(self, delivery: Delivery, receipt: bool = True, timeout: float | None = None) -> None:
        """Acknowledge ``delivery`` on the connection that delivered it; with ``receipt``, wait for it.

        Raises StaleDelivery if that connection is gone, ReceiptTimeout, AckFailed.
        """
        self._acknowledge("ack", delivery, receipt, timeout)

    def nack(self, delivery: Delivery, receipt: bool = True, timeout: float | None = None) -> None:
        """Reject ``delivery`` (ActiveMQ sends it to the DLQ). Same rules as :meth:`ack`."""
        if self.version == "1.0":
            raise ClientError("STOMP 1.0 has no NACK: use version 1.1 or 1.2")
        self._acknowledge("nack", delivery, receipt, timeout)

    def _ack_headers(self, delivery: Delivery) -> dict[str, str]:
        if self.version == "1.2":
            return {"id": delivery.ack_id}
        if self.version == "1.1":
            return {"message-id": delivery.message_id, "subscription": delivery.subscription}
        return {"message-id": delivery.message_id}

    def _acknowledge(
        self, kind: Literal["ack", "nack"], delivery: Delivery, receipt: bool, timeout: float | None
    ) -> None:
        command = kind.upper()
        headers = self._ack_headers(delivery)
        with self._cond:
            self._check_open()
            link = self._links.get(delivery.generation)
            if link is None or not link.usable:
                raise StaleDelivery(
                    f"{self.client_id}: {command} of {delivery.message_id}: the connection to "
                    f"{delivery.endpoint} that delivered it is gone; the broker will redeliver it"
                )
            pending = self._register(kind, command, headers, b"", link) if receipt else None
        if pending is None:
            try:
                link.transmit(command, headers)
            except TransportFailure as exc:
                raise StaleDelivery(f"{self.client_id}: {command} of {delivery.message_id}: {exc}") from None
            return
        self._write(link, pending)
        self._await(pending, timeout)

    # --- disconnecting ---

    def disconnect(self, timeout: float = 5.0) -> None:
        """Close gracefully: DISCONNECT (receipts of earlier frames arrive first), stop the threads.

        Idempotent and never raises, so it is safe in finalizers. Operations still waiting get
        ConnectionLost.
        """
        try:
            self._disconnect(timeout)
        except Exception:
            log.exception("%s: error while disconnecting", self.client_id)

    def _disconnect(self, timeout: float) -> None:
        with self._cond:
            if self._state == "closed":
                return
            self._state = "closed"
            live, self._live = self._live, None
            self._cond.notify_all()
        if live is not None:
            live.close(graceful_timeout=timeout)
        with self._cond:
            links = list(self._links.values())
            self._fail_pending(lambda p: True, lambda p: ConnectionLost(f"{self.client_id}: disconnected"))
        for link in links:
            link.abort("client disconnected")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(min(timeout, 1.0) if timeout > 0 else 0.1)
        self._dispatcher.stop(timeout=timeout if timeout > 0 else 0)
        log.info("%s: disconnected", self.client_id)

    def __enter__(self) -> FailoverConnection:
        if self._state == "new":
            self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()

    # --- pending operations ---

    def _check_open(self, allow_new: bool = False) -> None:
        """Raise unless operations can proceed now or after a reconnect. Caller holds the lock."""
        if self._state == "closed":
            raise ConnectionLost(f"{self.client_id}: the connection was disconnected")
        if self._state == "failed":
            raise ConnectionLost(str(self._failure))
        if self._state == "new" and not allow_new:
            raise ClientError(f"{self.client_id}: not connected: call connect() first")

    def _register(
        self, kind: PendingKind, command: str, headers: dict[str, str], body: bytes, link: BrokerLink | None
    ) -> _Pending:
        """Record an operation awaiting a receipt; it is claimed for ``link`` if given. Lock held."""
        receipt_id = f"{kind}-{next(self._receipt_numbers)}"
        pending = _Pending(receipt_id, kind, command, {**headers, "receipt": receipt_id}, body)
        if link is not None:
            pending.generation = link.generation
            pending.transmissions = 1
        self._pending[receipt_id] = pending
        return pending

    def _start(self, kind: PendingKind, command: str, headers: dict[str, str], body: bytes) -> _Pending:
        """Register a resendable operation and write it if a link is live (else restore writes it)."""
        with self._cond:
            self._check_open()
            link = self._live
            pending = self._register(kind, command, headers, body, link)
        if link is not None:
            self._write(link, pending)
        return pending

    def _write(self, link: BrokerLink, pending: _Pending) -> None:
        try:
            link.transmit(pending.command, pending.headers, pending.body)
        except TransportFailure as exc:
            # The link is closing: a send is resent on the next link, the others fail in link_closed.
            log.debug("%s: %s not written: %s", self.client_id, pending.receipt_id, exc)
            with self._cond:
                if pending.generation == link.generation:
                    pending.transmissions -= 1

    def _await(self, pending: _Pending, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not pending.done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    # Forget it: a timed-out send must not be resent behind the caller's back.
                    self._pending.pop(pending.receipt_id, None)
                    raise self._timeout_error(pending, timeout)
                self._cond.wait(remaining)
        if pending.error is not None:
            raise pending.error

    def _timeout_error(self, pending: _Pending, timeout: float | None) -> ReceiptTimeout:
        what = f"{self.client_id}: no RECEIPT for {pending.command} {pending.receipt_id} within {timeout:g} s"
        if pending.kind == "send":
            return SendTimeout(f"{what} (outcome unknown)")
        return ReceiptTimeout(what)

    def _fail_pending(
        self, select: Callable[[_Pending], bool], error: Callable[[_Pending], ClientError | None]
    ) -> None:
        """Complete the selected pending operations, with an error or (None) successfully. Lock held."""
        for receipt_id, pending in list(self._pending.items()):
            if select(pending):
                del self._pending[receipt_id]
                pending.error = error(pending)
                pending.done = True
        self._cond.notify_all()

    # --- events from links (stomp.py receiver threads) ---

    def link_receipt(self, link: BrokerLink, receipt_id: str) -> None:
        with self._cond:
            pending = self._pending.pop(receipt_id, None)
            if pending is None:
                return
            pending.endpoint = str(link.endpoint)
            pending.done = True
            self._cond.notify_all()

    def link_error(self, link: BrokerLink, frame: Any) -> None:
        headers = {str(k): str(v) for k, v in frame.headers.items()}
        raw = frame.body
        body = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw or "")
        message = headers.get("message", "") or body.strip() or "ERROR frame"
        error = ErrorFrame(str(link.endpoint), message, headers, body)
        log.warning("%s: ERROR from %s: %s", self.client_id, link.endpoint, message)
        receipt_id = headers.get("receipt-id")
        with self._cond:
            pending = self._pending.pop(receipt_id, None) if receipt_id else None
            if pending is not None:
                cls: type[BrokerError] = BrokerError
                if pending.kind == "send":
                    cls = SendFailed
                elif pending.kind in ("ack", "nack"):
                    cls = AckFailed
                pending.error = cls(message, headers, body)
                pending.endpoint = str(link.endpoint)
                pending.done = True
                self._cond.notify_all()
        self._notify("on_error", error)

    def link_message(self, link: BrokerLink, frame: Any) -> None:
        self._dispatcher.submit(lambda: self._deliver(link, frame))

    def link_closed(self, link: BrokerLink, reason: TransportFailure) -> None:
        with self._cond:
            self._links.pop(link.generation, None)
            generation = link.generation
            # Acks cannot be replayed elsewhere; subscribe/unsubscribe are redone (or moot) on the next link.
            self._fail_pending(
                lambda p: p.generation == generation and p.kind != "send",
                lambda p: (
                    StaleDelivery(
                        f"{self.client_id}: connection to {link.endpoint} lost before the RECEIPT for "
                        f"{p.command} (outcome unknown; the broker redelivers if it did not apply it)"
                    )
                    if p.kind in ("ack", "nack")
                    else None
                ),
            )
            if link is not self._live:
                return
            self._live = None
            self._lost = link
            self._lost_at = time.monotonic()
            if self._state == "connected":
                self._state = "reconnecting"
            self._cond.notify_all()
            # Under the lock, so the "resumed" line and callback cannot overtake these.
            log.warning("%s: transport interrupted: lost %s (%s)", self.client_id, link.endpoint, link.close_reason)
            self._notify("transport_interrupted", str(link.endpoint), reason)

    # --- dispatch thread ---

    def _deliver(self, link: BrokerLink, frame: Any) -> None:
        # Messages still queued from a dead (or retiring) link are dropped, as ActiveMQ clears a
        # consumer's prefetched messages on transport interruption: the broker redelivers them.
        if not link.usable:
            return
        headers = {str(k): str(v) for k, v in frame.headers.items()}
        sub_id = headers.get("subscription", "")
        with self._cond:
            state = self._subs.get(sub_id)
        if state is None:
            log.debug("%s: MESSAGE for unknown subscription %r dropped", self.client_id, sub_id)
            return
        message_id = headers.get("message-id", "")
        body = frame.body if isinstance(frame.body, bytes) else str(frame.body or "").encode("utf-8")
        delivery = Delivery(
            headers=headers,
            body=body,
            message_id=message_id,
            ack_id=headers.get("ack", message_id) if self.version == "1.2" else message_id,
            redelivered=headers.get("redelivered", "false").lower() == "true",
            endpoint=str(link.endpoint),
            subscription=sub_id,
            destination=headers.get("destination", state.subscription.destination),
            generation=link.generation,
        )
        state.handler(delivery)

    def _notify(self, method: str, *args: Any) -> None:
        with self._cond:
            listeners = list(self._listeners)
        for listener in listeners:
            callback = getattr(listener, method, None)
            if callback is not None:
                self._dispatcher.submit(_bind(callback, args))

    # --- failover thread ---

    def _run(self) -> None:
        try:
            if not self._connect_passes():
                return
            while True:
                probe_at = self._next_probe_time()
                with self._cond:
                    while self._state != "closed" and self._live is not None:
                        remaining = None if probe_at is None else probe_at - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    if self._state == "closed":
                        return
                    lost = self._live is None
                if lost:
                    if not self._reconnect():
                        return
                else:
                    self._probe_priority()
        except Exception as exc:
            log.exception("%s: failover thread crashed", self.client_id)
            self._give_up(ConnectionLost(f"{self.client_id}: failover thread crashed: {exc}"))

    def _reconnect(self) -> bool:
        with self._cond:
            lost = self._lost
        endpoint = lost.endpoint if lost is not None else None
        if not self._schedule.connection_lost(endpoint):
            self._give_up(
                ConnectionLost(
                    f"{self.client_id}: connection to {endpoint} lost; maxReconnectAttempts=0 forbids reconnecting"
                )
            )
            return False
        return self._connect_passes()

    def _connect_passes(self) -> bool:
        """Run passes over the endpoints until one link is live; False if given up or closed."""
        schedule = self._schedule
        while True:
            plan = schedule.next_pass()
            if plan.wait_before_ms > 0 and not self._sleep(plan.wait_before_ms / 1000.0):
                return False
            for endpoint in plan.order:
                if self._closing():
                    return False
                link = self._open_link(endpoint)
                if link is None:
                    continue
                if self._restore(link):
                    schedule.connected(endpoint)
                    return True
                link.abort("could not restore subscriptions and sends")
            if self._closing():
                return False
            failure = schedule.pass_failed()
            if failure.give_up:
                verb = "connect" if not schedule.ever_connected else "reconnect"
                message = (
                    f"{self.client_id}: could not {verb} to {self._endpoint_list()} after "
                    f"{failure.failures} attempt(s){self._errors_text()}"
                )
                self._give_up(ConnectFailed(message) if not schedule.ever_connected else ConnectionLost(message))
                return False
            if failure.warn:
                log.warning(
                    "%s: failed to connect to %s after %d attempt(s), retrying%s",
                    self.client_id,
                    self._endpoint_list(),
                    failure.failures,
                    self._errors_text(),
                )
            if failure.wait_after_ms > 0 and not self._sleep(failure.wait_after_ms / 1000.0):
                return False

    def _closing(self) -> bool:
        return self._state == "closed"

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless disconnected meanwhile; returns False if disconnected."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while self._state != "closed":
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)
        return False

    def _open_link(self, endpoint: Endpoint) -> BrokerLink | None:
        with self._cond:
            if self._state == "closed":
                return None
            link = BrokerLink(endpoint, next(self._generations), self._settings, self)
            self._links[link.generation] = link
        try:
            link.open()
        except TransportFailure as exc:
            with self._cond:
                self._links.pop(link.generation, None)
                self._last_errors[str(endpoint)] = str(exc)
            log.debug("%s: %s", self.client_id, exc)
            return None
        if self._closing():
            link.abort("client disconnected")
            return None
        return link

    def _restore(self, link: BrokerLink) -> bool:
        """Remake subscriptions, resend unconfirmed sends, then make ``link`` the live one.

        Operations started meanwhile see no live link and are picked up by the next round, so
        nothing slips between the last round and going live (both happen under the lock).
        """
        deadline = time.monotonic() + self._settings.connect_timeout
        subscribed = resent = 0
        while True:
            with self._cond:
                if self._state == "closed" or not link.is_open:
                    return False
                subs = [s for s in self._subs.values() if s.generation != link.generation]
                sends = [p for p in self._pending.values() if p.kind == "send" and p.generation != link.generation]
                if not subs and not sends:
                    return self._go_live(link, subscribed, resent)
                confirmations: list[tuple[_SubscriptionState, _Pending]] = []
                for sub in subs:
                    sub.generation = link.generation
                    confirmations.append((sub, self._register("subscribe", "SUBSCRIBE", sub.frame_headers, b"", link)))
                for pending in sends:
                    pending.generation = link.generation
                    pending.transmissions += 1
            written = 0
            try:
                for _, pending in confirmations:
                    link.transmit(pending.command, pending.headers)
                for pending in sends:
                    link.transmit(pending.command, pending.headers, pending.body)
                    written += 1
            except TransportFailure as exc:
                with self._cond:
                    self._last_errors[str(link.endpoint)] = str(exc)
                    for pending in sends[written:]:
                        if pending.generation == link.generation:
                            pending.transmissions -= 1
                return False
            # Subscriptions are confirmed before going live so a test can rely on them being active.
            for sub, pending in confirmations:
                try:
                    self._await(pending, max(0.0, deadline - time.monotonic()))
                except BrokerError as exc:
                    log.error(
                        "%s: %s refused SUBSCRIBE %s to %s: %s",
                        self.client_id,
                        link.endpoint,
                        sub.subscription.id,
                        sub.subscription.destination,
                        exc,
                    )
                except ReceiptTimeout:
                    with self._cond:
                        self._last_errors[str(link.endpoint)] = f"{link.endpoint}: no RECEIPT for SUBSCRIBE"
                    return False
            if not link.is_open:
                return False
            subscribed += len(confirmations)
            resent += len(sends)

    def _go_live(self, link: BrokerLink, subscribed: int, resent: int) -> bool:
        """Make ``link`` live. Lock held."""
        first = not self._schedule.ever_connected
        self._live = link
        self._state = "connected"
        self._last_errors.clear()
        lost_at, self._lost_at = self._lost_at, None
        self._cond.notify_all()
        if first:
            log.info("%s: connected to %s", self.client_id, link.endpoint)
            return True
        outage = f" after {(time.monotonic() - lost_at) * 1000:.0f} ms" if lost_at is not None else ""
        log.info(
            "%s: transport resumed on %s%s (%d subscription(s) remade, %d send(s) resent)",
            self.client_id,
            link.endpoint,
            outage,
            subscribed,
            resent,
        )
        self._notify("transport_resumed", str(link.endpoint))
        return True

    def _next_probe_time(self) -> float | None:
        with self._cond:
            live = self._live
        if live is None or not self._schedule.should_probe_priority(live.endpoint):
            return None
        return time.monotonic() + self._schedule.next_probe_wait_ms() / 1000.0

    def _probe_priority(self) -> None:
        """Connected to a non-priority broker: if a priority one answers, move to it."""
        with self._cond:
            old = self._live
        if old is None:
            return
        for endpoint in self._schedule.priority_endpoints:
            if endpoint == old.endpoint:
                continue
            link = self._open_link(endpoint)
            if link is not None:
                self._switch(old, link)
                return

    def _switch(self, old: BrokerLink, new: BrokerLink) -> None:
        with self._cond:
            if self._live is not old or self._state == "closed":
                new.abort("priority switch abandoned")
                return
            # New operations wait while the old link drains, and its deliveries can no longer be acked.
            self._live = None
            self._state = "reconnecting"
            self._lost_at = time.monotonic()
            old.retired = True
        log.warning(
            "%s: transport interrupted: priority broker %s is back, leaving %s",
            self.client_id,
            new.endpoint,
            old.endpoint,
        )
        self._notify("transport_interrupted", str(old.endpoint), None)
        # DISCONNECT with a receipt: receipts for sends already written to the old broker arrive first.
        old.close(graceful_timeout=self._settings.connect_timeout)
        if self._restore(new):
            self._schedule.connected(new.endpoint)
            return
        new.abort("could not restore subscriptions and sends")
        with self._cond:
            self._lost = new
        # The failover thread sees no live link and starts a reconnect episode.

    def _give_up(self, error: ClientError) -> None:
        with self._cond:
            if self._state == "closed":
                return
            self._state = "failed"
            self._failure = error
            self._live = None
            self._fail_pending(lambda p: True, lambda p: ConnectionLost(str(error)))
        log.error("%s: giving up: %s", self.client_id, error)
        self._dispatcher.stop(timeout=0)


def _bind(callback: Callable[..., Any], args: Iterable[Any]) -> Callable[[], None]:
    frozen = tuple(args)

    def call() -> None:
        callback(*frozen)

    return call
