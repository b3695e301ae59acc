"""Run producers and consumers against a cluster while faults happen, then drain and check.

Producers send persistent, receipted messages with increasing sequence numbers; consumers ack each
delivery individually, with a receipt. Each send and ack is an invoke followed by ok, fail or info
(outcome unknown); each delivery is a lone ok receive. After the run the faults are healed and a
fresh consumer drains the queue, so that anything still stored is counted as received.

For ActiveMQ's ordering tools, producers can put messages in message groups (``groups``: JMSXGroupID)
and consumers can subscribe as exclusive consumers (``exclusive``: activemq.exclusive).

A backlog gives a broker bug something to lose: ``produce`` queues receipted messages with no consumer,
``processing_delay_s`` makes consumers slower than producers, ``reopen_consumers`` closes every
consumer's subscription on a live broker (its unacked messages go back to the queue) and subscribes
again, and ``add_consumers`` brings consumers in while a group or an exclusive queue is held. Each
consumer records when its subscription begins and ends (``subscribed`` / ``unsubscribed``), which the
ordering-feature checkers need.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from harness.checkers import (
    Checker,
    Scope,
    Verdict,
    check_total_queue,
    network_checkers,
    run_checkers,
    standard_checkers,
)
from harness.checkers.network import DEFAULT_STUCK_BOUND_MS
from harness.client import (
    AckFailed,
    ConnectionLost,
    Delivery,
    ErrorFrame,
    FailoverConnection,
    ReceiptTimeout,
    SendFailed,
    SendTimeout,
    StaleDelivery,
)
from harness.cluster import Cluster, ClusterError
from harness.errors import InvalidOption, UnknownName, require_non_negative
from harness.faults.base import Nemesis
from harness.history import ACK, RECEIVE, SEND, SUBSCRIBED, UNSUBSCRIBED, History, MessageKey
from harness.workload.messages import decode_key, encode_body

log = logging.getLogger("harness.workload")
# How long consumers stay once every receipted send has been delivered (acks of the last deliveries
# in flight), instead of the full drain_idle_s.
SETTLE_S = 0.3

Progress = Callable[[str], None]

# How many producers or consumers, and where: a count (all on the cluster's first group, over its
# failover URI) or, for networks of brokers, {broker or group: count}, e.g. {"amq1": 2, "amq3": 1}.
Placement = int | Mapping[str, int]


@dataclass(frozen=True)
class WorkloadOptions:
    destination: str = "/queue/amq-harness"
    persistent: bool = True
    rate_per_producer: float = 50.0  # sends per second; 0 means as fast as receipts come back
    payload_bytes: int = 64
    send_timeout_s: float = 10.0
    ack_timeout_s: float = 5.0
    drain_idle_s: float = 2.0
    heartbeat_ms: int = 1000
    failover_options: dict[str, Any] = field(default_factory=dict)
    # Message groups: with groups=n each message carries JMSXGroupID "group-<seq % n>" (0: no groups).
    groups: int = 0
    # Consumers subscribe with activemq.exclusive:true: one of them owns the queue, the others wait.
    exclusive: bool = False
    # How long a consumer works on each delivery before acking it: > 0 makes consumers slower than
    # producers, so receipted messages pile up on the broker (a backlog) instead of being consumed at once.
    processing_delay_s: float = 0.0
    # activemq.prefetchSize of each subscription (None: the broker's default, 1000 on ActiveMQ). A small
    # prefetch keeps a backlog on the broker rather than in the consumer's buffer, where a message the
    # store never committed would count as delivered.
    prefetch: int | None = None

    def __post_init__(self) -> None:
        require_non_negative(
            "workload",
            rate_per_producer=self.rate_per_producer,
            payload_bytes=self.payload_bytes,
            send_timeout_s=self.send_timeout_s,
            ack_timeout_s=self.ack_timeout_s,
            drain_idle_s=self.drain_idle_s,
            heartbeat_ms=self.heartbeat_ms,
            groups=self.groups,
            processing_delay_s=self.processing_delay_s,
        )
        if not self.destination.startswith(("/queue/", "/topic/")):
            raise InvalidOption("workload", "destination", "a /queue/... or /topic/... name", self.destination)

    def with_overrides(self, where: str, overrides: dict[str, Any]) -> WorkloadOptions:
        """These options with some replaced; an unknown name is a ScenarioError listing the known ones."""
        known = set(self.__dataclass_fields__)
        for name in overrides:
            if name not in known:
                raise UnknownName(f"{where} option", name, known | _CALL_OPTIONS.get(where, set()))
        return WorkloadOptions(**{**self.__dict__, **overrides})


# Options a call takes besides WorkloadOptions' fields: listed with them when a name is unknown.
_CALL_OPTIONS = {"workload.running": {"producers", "consumers"}, "workload.produce": {"count", "producers"}}


class _Worker(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.error: BaseException | None = None


class Producer(_Worker):
    """``at``: the group (or a node of it) whose failover URI the producer uses; None: the first group."""

    def __init__(self, process: int, workload: Workload, at: str | None = None) -> None:
        super().__init__(f"producer-{process}")
        self.process = process
        self.workload = workload
        self.at = at
        self.key_prefix = f"p{process}"
        self.next_seq = 0
        # The message groups of this producer's sends: fixed for its life (a later phase's options are
        # another producer's), so that a delivery's group is known without remembering each key.
        self.groups = workload.options.groups
        workload.producers[self.key_prefix] = self

    def run(self) -> None:
        wl = self.workload
        opts = wl.options
        try:
            with wl.connect(self.name, self.at) as conn:
                interval = 1.0 / opts.rate_per_producer if opts.rate_per_producer > 0 else 0.0
                while not self.stopping.is_set():
                    started = time.monotonic()
                    key = MessageKey(self.key_prefix, self.next_seq)
                    group = wl.group_of(key, self.groups)
                    wl.sending(key)
                    self.next_seq += 1
                    meta: dict[str, Any] = {"destination": opts.destination}
                    headers: dict[str, str] = {}
                    if group is not None:
                        meta["group"] = group
                        headers["JMSXGroupID"] = group
                    wl.history.record(self.process, "invoke", SEND, key, **meta)
                    try:
                        result = conn.send(
                            opts.destination,
                            encode_body(key, opts.payload_bytes),
                            headers=headers,
                            persistent=opts.persistent,
                            timeout=opts.send_timeout_s,
                        )
                        ok = wl.history.record(self.process, "ok", SEND, key, node=wl.node_of(result.endpoint))
                        wl.count("sent", key, at_ns=ok.time_ns)
                    except SendFailed as exc:
                        wl.history.record(self.process, "fail", SEND, key, error=str(exc))
                        wl.send_done(key)
                    except (SendTimeout, ConnectionLost) as exc:
                        wl.history.record(self.process, "info", SEND, key, error=f"{type(exc).__name__}: {exc}")
                        wl.send_done(key)
                        if isinstance(exc, ConnectionLost):
                            raise
                    self.stopping.wait(max(0.0, interval - (time.monotonic() - started)))
        except BaseException as exc:
            self.error = exc
            log.error("%s stopped: %s", self.name, exc)


class Consumer(_Worker):
    """A client-individual subscriber that records every delivery and acks it with a receipt.

    With a processing delay, deliveries are recorded as they arrive and worked on (a sleep, then the
    ACK) by a second thread, in order: what arrived and was not acked yet is what a real slow consumer
    holds. When its subscription closes or its connection is lost, that work is dropped unacked, and
    the broker must deliver it again.
    """

    def __init__(
        self,
        process: int,
        workload: Workload,
        drain: bool = False,
        after_restart: bool = False,
        processing_delay_s: float | None = None,
        at: str | None = None,
    ) -> None:
        super().__init__(f"{'drain' if drain else 'consumer'}-{process}")
        self.process = process
        self.workload = workload
        self.drain = drain
        self.at = at  # the group (or a node of it) it consumes from; None: the first group
        self.after_restart = after_restart
        self.processing_delay_s = (
            workload.options.processing_delay_s if processing_delay_s is None else processing_delay_s
        )
        self.last_delivery = time.monotonic()
        self.deliveries = 0
        self.conn: FailoverConnection
        self.subscribed = threading.Event()
        # Held while a delivery is recorded and while the subscription is remade, so that a delivery of
        # a closed subscription is never recorded nor acked on the new one.
        self._busy = threading.Lock()
        # Held by the worker while it works on and acks one delivery.
        self._acking = threading.Lock()
        self._work: queue.Queue[tuple[Delivery, MessageKey, str | None]] = queue.Queue()
        self._subscription: str | None = None

    def _record_session(self, f: str, cause: str) -> None:
        wl = self.workload
        value = {"destination": wl.options.destination, "exclusive": wl.options.exclusive, "cause": cause}
        # Where the consumer is (networks of brokers count demand per broker); the drain is not demand.
        node = wl.node_of(self.conn.current_endpoint) if hasattr(self, "conn") else None
        meta = {"drain": True} if self.drain else {}
        wl.history.record(self.process, "ok", f, value, node=node, **meta)

    # The failover client's listener callbacks (on its dispatch thread, in order with deliveries).
    def transport_interrupted(self, endpoint: str, error: BaseException | None) -> None:
        self._record_session(UNSUBSCRIBED, "interrupted")
        self._drop_work()  # the dead connection's messages: the broker delivers them again

    def transport_resumed(self, endpoint: str) -> None:
        self._record_session(SUBSCRIBED, "resumed")

    def on_error(self, frame: ErrorFrame) -> None:
        return None  # the operation the ERROR answers raises and is recorded there

    def _drop_work(self) -> None:
        while True:
            try:
                self._work.get_nowait()
            except queue.Empty:
                return

    def subscribe(self, cause: str = "subscribe") -> None:
        """Subscribe (the consumer's connection must be open) and record that the subscription began."""
        wl = self.workload
        headers = {"activemq.exclusive": "true"} if wl.options.exclusive else {}
        if wl.options.prefetch is not None:
            headers["activemq.prefetchSize"] = str(wl.options.prefetch)
        self._record_session(SUBSCRIBED, cause)
        subscription = self.conn.subscribe(
            wl.options.destination, self.on_delivery, ack="client-individual", headers=headers
        )
        self._subscription = subscription.id

    def reopen(self) -> None:
        """Close the subscription on the live broker (unacked messages go back) and subscribe again."""
        with self._busy, self._acking:
            # Recorded before UNSUBSCRIBE goes out: nothing the broker does after it can precede it.
            self._record_session(UNSUBSCRIBED, "close")
            self._drop_work()
            subscription, self._subscription = self._subscription, None
            if subscription is not None:
                self.conn.unsubscribe(subscription)
            self.subscribe("subscribe")

    def on_delivery(self, delivery: Delivery) -> None:
        with self._busy:
            if delivery.subscription != self._subscription:
                return  # a message of a closed subscription: the client drops it, the broker keeps it
            key = self._record(delivery)
        if key is None:
            return
        node = self.workload.node_of(delivery.endpoint)
        if self.processing_delay_s > 0:
            self._work.put((delivery, key, node))
        else:
            self._ack(delivery, key, node)

    def _record(self, delivery: Delivery) -> MessageKey | None:
        wl = self.workload
        self.last_delivery = time.monotonic()
        key = decode_key(delivery.body)
        value: Any = key if key is not None else {"body": str(delivery.body)[:80]}
        meta: dict[str, Any] = {
            "redelivered": delivery.redelivered,
            "destination": wl.options.destination,
            "message_id": delivery.message_id,
        }
        # The group the producer chose for this key: brokers need not echo JMSXGroupID (ActiveMQ's STOMP
        # frames do not), and a phase sent without groups stays without, whatever the options are now.
        known, group = wl.sent_group(key)
        if not known:
            group = delivery.headers.get("JMSXGroupID")
        if group:
            meta["group"] = group
        if self.drain:
            meta["drain"] = True
        if self.after_restart:
            meta["after_restart"] = True
        wl.history.record(self.process, "ok", RECEIVE, value, node=wl.node_of(delivery.endpoint), **meta)
        self.deliveries += 1
        wl.count("received", key)
        return key

    def _ack(self, delivery: Delivery, key: MessageKey, node: str | None) -> None:
        wl = self.workload
        wl.history.record(self.process, "invoke", ACK, key)
        try:
            self.conn.ack(delivery, receipt=True, timeout=wl.options.ack_timeout_s)
            wl.history.record(self.process, "ok", ACK, key, node=node)
            wl.count("acked")
        except (StaleDelivery, AckFailed) as exc:
            # Definitely not acked: the broker keeps the message and will deliver it again.
            wl.history.record(self.process, "fail", ACK, key, error=f"{type(exc).__name__}: {exc}")
        except (ReceiptTimeout, ConnectionLost) as exc:
            wl.history.record(self.process, "info", ACK, key, error=f"{type(exc).__name__}: {exc}")

    def start_work(self) -> threading.Thread | None:
        """Start the worker that acks deliveries after the processing delay (none without a delay)."""
        if self.processing_delay_s <= 0:
            return None
        worker = threading.Thread(target=self._work_through, name=f"{self.name}-work", daemon=True)
        worker.start()
        return worker

    def _work_through(self) -> None:
        """The slow consumer's worker: each delivery takes ``processing_delay_s``, then its ACK."""
        while not self.stopping.is_set():
            try:
                delivery, key, node = self._work.get(timeout=0.1)
            except queue.Empty:
                continue
            # The processing time passes outside the lock: reopen() takes it, and a worker holding it
            # through each delay could take it straight back (locks are not fair) and ack the whole
            # backlog before the reopen, leaving nothing to drop.
            if self.stopping.wait(self.processing_delay_s):
                continue
            with self._acking:
                if delivery.subscription != self._subscription:
                    continue
                self._ack(delivery, key, node)
                self.last_delivery = time.monotonic()

    def run(self) -> None:
        wl = self.workload
        worker: threading.Thread | None = None
        try:
            with wl.connect(self.name, self.at) as conn:
                self.conn = conn
                conn.add_listener(self)
                worker = self.start_work()
                with self._busy:
                    self.subscribe("subscribe")
                self.subscribed.set()
                self.stopping.wait()
                with self._busy, self._acking:
                    self._record_session(UNSUBSCRIBED, "close")
                    self._subscription = None
        except BaseException as exc:
            self.error = exc
            log.error("%s stopped: %s", self.name, exc)
        finally:
            self.stopping.set()
            if worker is not None:
                worker.join(timeout=5)

    def wait_idle(self, idle_s: float, timeout: float, settled: Callable[[], bool] | None = None) -> None:
        """Wait until nothing has arrived or been acked for ``idle_s`` seconds (or ``timeout`` passes);
        for SETTLE_S only, once ``settled()`` says nothing is outstanding."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._work.empty():
                quiet = time.monotonic() - self.last_delivery
                if quiet >= idle_s or (settled is not None and quiet >= SETTLE_S and settled()):
                    return
            time.sleep(0.05)


class Workload:
    """Producers and consumers bound to one cluster, one history and one nemesis."""

    def __init__(
        self,
        cluster: Cluster,
        history: History,
        nemesis: Nemesis,
        options: WorkloadOptions | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.cluster = cluster
        self.history = history
        self.nemesis = nemesis
        self.options = options or WorkloadOptions()
        self.progress = progress or (lambda line: log.info("%s", line))
        self.verdict: Verdict | None = None
        self._counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()
        self._last_receipt_ns: int | None = None
        self._endpoints = cluster.endpoint_names()
        self._process_ids = iter(range(1_000_000))
        self._consumers: list[Consumer] = []
        # For ``all_delivered``, kept small however long the run (a soak sends millions): receipted sends
        # not delivered yet, deliveries that came before their send's receipt, and each producer's send in
        # flight (a delivery of it may precede its receipt), instead of every key sent and delivered.
        self._undelivered: set[MessageKey] = set()
        self._early: set[MessageKey] = set()
        self._in_flight: dict[str, int] = {}
        # Every producer of the workload by key prefix, which gives the group each key was sent in.
        self.producers: dict[str, Producer] = {}

    # -- plumbing used by the workers ------------------------------------------------------------
    def connect(self, client_id: str, at: str | None = None) -> FailoverConnection:
        """A failover connection to the group ``at`` names (a group or one of its nodes; None: the first)."""
        group = self.cluster.topology.group_of(at).name if at in self.cluster.topology.nodes else at
        uri = self.cluster.failover_uri(group, **self.options.failover_options)
        conn = FailoverConnection(uri, client_id=client_id, heartbeats=(self.options.heartbeat_ms,) * 2)
        conn.connect()
        return conn

    def node_of(self, endpoint: str | None) -> str | None:
        if endpoint is None:
            return None
        return self._endpoints.get(endpoint, endpoint)

    def group_of(self, key: MessageKey, groups: int | None = None) -> str | None:
        """The message group a message is sent in (``groups``: the producer's count, else the options'),
        or None when the workload uses no groups."""
        groups = self.options.groups if groups is None else groups
        if groups <= 0:
            return None
        return f"group-{key.seq % groups}"

    def sent_group(self, key: MessageKey | None) -> tuple[bool, str | None]:
        """Whether this workload sent ``key``, and the message group it sent it in (None: none)."""
        producer = self.producers.get(key.producer) if key is not None else None
        if key is None or producer is None or not 0 <= key.seq < producer.next_seq:
            return False, None
        return True, self.group_of(key, producer.groups)

    def sending(self, key: MessageKey) -> None:
        """A producer is about to send ``key`` (before its invoke is recorded)."""
        with self._counts_lock:
            self._counts["attempted"] = self._counts.get("attempted", 0) + 1
            self._in_flight[key.producer] = key.seq

    def send_done(self, key: MessageKey) -> None:
        """The send of ``key`` ended without a receipt (failed, or its outcome is unknown)."""
        with self._counts_lock:
            if self._in_flight.get(key.producer) == key.seq:
                del self._in_flight[key.producer]
            self._early.discard(key)

    def count(self, what: str, key: MessageKey | None = None, *, at_ns: int | None = None) -> None:
        """Count a receipted send ("sent") or a delivery ("received") of ``key``, or an ack ("acked").
        ``at_ns``: a receipt's time in the history (its op's), the one the exercise rule judges by."""
        with self._counts_lock:
            self._counts[what] = self._counts.get(what, 0) + 1
            if what == "sent":
                self._last_receipt_ns = at_ns if at_ns is not None else time.monotonic_ns()
            if key is None:
                return
            if what == "sent":
                if self._in_flight.get(key.producer) == key.seq:
                    del self._in_flight[key.producer]
                if key in self._early:
                    self._early.remove(key)
                else:
                    self._undelivered.add(key)
            elif key in self._undelivered:
                self._undelivered.remove(key)
            elif self._in_flight.get(key.producer) == key.seq:
                self._early.add(key)  # delivered before its receipt came back

    def all_delivered(self) -> bool:
        """Whether every receipted send so far has been delivered at least once."""
        with self._counts_lock:
            return not self._undelivered

    def tracked_keys(self) -> int:
        """How many message keys the workload holds in memory (a few, however long it runs)."""
        with self._counts_lock:
            return len(self._undelivered) + len(self._early) + len(self._in_flight)

    # -- the run ---------------------------------------------------------------------------------
    @staticmethod
    def _places(placement: Placement) -> list[str | None]:
        if isinstance(placement, int):
            return [None] * placement
        return [at for at, count in placement.items() for _ in range(count)]

    def _check_places(self, placement: Placement, where: str, option: str) -> None:
        """Counts must be whole numbers >= 0, places brokers or groups of the topology (ScenarioError)."""
        if isinstance(placement, int):
            require_non_negative(where, **{option: placement})
            return
        known = {*self.cluster.topology.nodes, *(g.name for g in self.cluster.topology.groups)}
        for at, count in placement.items():
            if at not in known:
                raise UnknownName(f"broker or group for {option}", at, known, plural="brokers and groups")
            require_non_negative(where, **{f"{option}[{at!r}]": count})

    @contextmanager
    def running(self, producers: Placement = 2, consumers: Placement = 1, **overrides: Any) -> Iterator[Workload]:
        """Run producers and consumers for the duration of the block, probing the cluster meanwhile.

        Give counts, or pin them to brokers of a network: ``producers={"amq1": 2}, consumers={"amq3": 1}``.
        """
        if overrides:
            self.options = self.options.with_overrides("workload.running", overrides)
        self._check_places(producers, "workload.running", "producers")
        self._check_places(consumers, "workload.running", "consumers")
        consumer_workers = [Consumer(next(self._process_ids), self, at=at) for at in self._places(consumers)]
        producer_workers = [Producer(next(self._process_ids), self, at=at) for at in self._places(producers)]
        self._consumers = consumer_workers
        with self.cluster.probing(self.history):
            for worker in [*consumer_workers, *producer_workers]:
                worker.start()
            stop_reporting = threading.Event()
            reporter = threading.Thread(
                target=self._report_progress, args=(stop_reporting,), daemon=True, name="progress"
            )
            reporter.start()
            try:
                yield self
            finally:
                for worker in producer_workers:
                    worker.stopping.set()
                for worker in producer_workers:
                    worker.join(timeout=self.options.send_timeout_s + 5)
                consumer_workers = list(self._consumers)
                for worker in consumer_workers:
                    # A slow consumer leaves its backlog to the drain: what it holds unacked goes back.
                    if worker.processing_delay_s <= 0:
                        # Not an idle wait when nothing is outstanding: once every receipted send has
                        # been delivered, a short settle; whatever comes later goes to the drain, which
                        # keeps its full idle time (late redeliveries are what some checks look for).
                        worker.wait_idle(self.options.drain_idle_s, timeout=30, settled=self.all_delivered)
                    worker.stopping.set()
                for worker in consumer_workers:
                    worker.join(timeout=10)
                self._consumers = []
                stop_reporting.set()
                reporter.join(timeout=2)
        errors = [f"{w.name}: {w.error}" for w in [*producer_workers, *consumer_workers] if w.error]
        if errors:
            log.warning("workers stopped with errors: %s", "; ".join(errors))

    def received(self) -> int:
        """How many deliveries the workload's consumers have had so far."""
        with self._counts_lock:
            return self._counts.get("received", 0)

    def wait_for_deliveries(self, deliveries: int = 1, timeout: float = 60.0) -> float:
        """Block until ``deliveries`` more deliveries reached the consumers; the seconds it took."""
        require_non_negative("workload.wait_for_deliveries", deliveries=deliveries, timeout=timeout)
        started = time.monotonic()
        target = self.received() + deliveries
        while self.received() < target:
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"only {deliveries - (target - self.received())} of {deliveries} deliveries within {timeout:.0f} s "
                    f"(roles {self.cluster.roles()})"
                )
            time.sleep(0.02)
        return time.monotonic() - started

    def last_receipt_ns(self) -> int | None:
        """When a send was last receipted (its op's time in the history, time.monotonic_ns), None before
        the first: whether the cluster serves now, for the chaos executor."""
        with self._counts_lock:
            return self._last_receipt_ns

    def attempted(self) -> int:
        """How many sends the workload has attempted so far (receipted or not)."""
        with self._counts_lock:
            return self._counts.get("attempted", 0)

    def backlogged(
        self,
        backlog: int,
        producers: int = 2,
        consumers: int = 1,
        processing_delay_s: float = 0.01,
        rate_per_producer: float = 50.0,
        prefetch: int = 20,
        **overrides: Any,
    ) -> AbstractContextManager[Workload]:
        """``backlog`` receipted messages queued with no consumer (as fast as receipts come), then
        ``running`` with consumers slower than the producers and a small prefetch: the queue on the
        broker does not empty while the block runs. ``overrides`` (groups=..., exclusive=...) apply to
        both phases."""
        self.produce(max(1, backlog // producers), producers=producers, rate_per_producer=0, **overrides)
        return self.running(
            producers,
            consumers,
            processing_delay_s=processing_delay_s,
            rate_per_producer=rate_per_producer,
            prefetch=prefetch,
            **overrides,
        )

    def add_consumers(self, count: int = 1, processing_delay_s: float | None = None, timeout: float = 30.0) -> None:
        """Start more consumers inside a ``running`` block (they join a group or exclusive queue already
        held); returns once each has subscribed."""
        if not self._consumers:
            raise RuntimeError("add_consumers() joins a running workload: call it inside workload.running(...)")
        added = [Consumer(next(self._process_ids), self, processing_delay_s=processing_delay_s) for _ in range(count)]
        self._consumers.extend(added)
        for worker in added:
            worker.start()
        for worker in added:
            if not worker.subscribed.wait(timeout):
                raise TimeoutError(f"{worker.name} did not subscribe within {timeout:.0f} s: {worker.error}")

    def move_consumers(
        self, source: str, target: str, processing_delay_s: float | None = None, timeout: float = 30.0
    ) -> int:
        """Inside ``running()``: the consumers on ``source`` leave it and as many subscribe on ``target``
        (clients moving to another broker of a network), working ``processing_delay_s`` per message
        there (None: the workload's). Returns once they have subscribed, with how many moved."""
        self._check_places({source: 1, target: 1}, "workload.move_consumers", "consumers")
        leaving = [c for c in self._consumers if c.at == source]
        if not leaving:
            placed = ", ".join(str(c.at) for c in self._consumers) or "none"
            raise ValueError(f"workload: no running consumer on {source} to move (consumers at: {placed})")
        for worker in leaving:
            worker.stopping.set()
        for worker in leaving:
            worker.join(timeout=10)
        arriving = [
            Consumer(next(self._process_ids), self, processing_delay_s=processing_delay_s, at=target) for _ in leaving
        ]
        self._consumers = [c for c in self._consumers if c not in leaving] + arriving
        for worker in arriving:
            worker.start()
        for worker in arriving:
            if not worker.subscribed.wait(timeout):
                raise TimeoutError(
                    f"{worker.name} did not subscribe on {target} within {timeout:.0f} s: {worker.error}"
                )
        self.progress(f"moved {len(leaving)} consumers from {source} to {target}")
        return len(leaving)

    def reopen_consumers(self) -> None:
        """Every running consumer closes its subscription on the live broker and subscribes again.

        What each had been delivered and not acked goes back to the queue: the broker must deliver it
        again, ahead of newer messages when that consumer is the queue's only one.
        """
        for worker in self._consumers:
            if worker.subscribed.is_set() and worker.is_alive():
                worker.reopen()

    def wait_for_backlog(self, queued: int, timeout: float = 60.0) -> None:
        """Block until at least ``queued`` more messages have been receipted than acked: the broker holds
        that many receipted, unconsumed messages (queued, or delivered and not acked yet)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._counts_lock:
                backlog = self._counts.get("sent", 0) - self._counts.get("acked", 0)
            if backlog >= queued:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the backlog reached {backlog}, not {queued}, within {timeout:.0f} s: consumers keep up; "
                    "slow them with processing_delay_s or produce() first"
                )
            time.sleep(0.02)

    def wait_for_traffic(self, receipts: int = 20, timeout: float = 60.0) -> None:
        """Block until ``receipts`` more sends have been receipted: the cluster is serving under load."""
        require_non_negative("workload.wait_for_traffic", receipts=receipts, timeout=timeout)
        with self._counts_lock:
            target = self._counts.get("sent", 0) + receipts
        deadline = time.monotonic() + timeout
        gone = _ClusterGone(self)
        while True:
            with self._counts_lock:
                sent = self._counts.get("sent", 0)
            if sent >= target:
                return
            gone.raise_if_gone()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {sent - target + receipts} of {receipts} sends receipted within {timeout:.0f} s "
                    f"(roles {self.cluster.roles()})"
                )
            time.sleep(0.02)

    def _report_progress(self, stop: threading.Event) -> None:
        started = time.monotonic()
        while not stop.wait(5.0):
            with self._counts_lock:
                sent, received = self._counts.get("sent", 0), self._counts.get("received", 0)
            self.progress(f"[{time.monotonic() - started:5.1f} s] sent {sent} receipted, received {received}")

    def produce(self, count: int, producers: Placement = 1, **overrides: Any) -> None:
        """Send ``count`` messages per producer with no consumer running (they stay queued)."""
        require_non_negative("workload.produce", count=count)
        if overrides:
            self.options = self.options.with_overrides("workload.produce", overrides)
        self._check_places(producers, "workload.produce", "producers")
        workers = [Producer(next(self._process_ids), self, at=at) for at in self._places(producers)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60 + count * self.options.send_timeout_s
        gone = _ClusterGone(self)
        try:
            while any(w.next_seq < count and w.is_alive() for w in workers) and time.monotonic() < deadline:
                gone.raise_if_gone()
                time.sleep(0.01)
        finally:
            for worker in workers:
                worker.stopping.set()
                worker.join(timeout=self.options.send_timeout_s + 5)

    def drain(self, timeout: float = 60.0, after_restart: bool = False) -> int:
        """Consume everything left on the queue with fresh consumers; return how many arrived.

        In a network of brokers one drainer per group runs at once, so that messages stuck on any
        broker are found where they are (the drain receive's node says where).
        """
        topology = self.cluster.topology
        places: list[str | None] = [g.name for g in topology.groups] if topology.is_network else [None]
        drainers = [
            Consumer(
                next(self._process_ids), self, drain=True, after_restart=after_restart, processing_delay_s=0, at=at
            )
            for at in places
        ]
        for drainer in drainers:
            drainer.start()
        for drainer in drainers:
            drainer.subscribed.wait(timeout=30)
        for drainer in drainers:
            drainer.wait_idle(self.options.drain_idle_s, timeout=timeout)
        for drainer in drainers:
            drainer.stopping.set()
        for drainer in drainers:
            drainer.join(timeout=10)
        errors = [f"{d.name}: {d.error}" for d in drainers if d.error]
        if errors:
            raise RuntimeError(f"draining {self.options.destination} failed: {'; '.join(errors)}")
        drained = sum(d.deliveries for d in drainers)
        self.progress(f"drained {drained} messages left on {self.options.destination}")
        return drained

    def check(
        self,
        *,
        exactly_once: bool = False,
        failover_bound_ms: float | None = None,
        master_timeout: float = 60.0,
        ordering_scope: Scope = "consumer",
        acks_durable: bool = True,
        checkers: Mapping[str, Checker | None] | None = None,
        stuck_bound_ms: float = DEFAULT_STUCK_BOUND_MS,
        min_share: float | None = None,
    ) -> Verdict:
        """Heal every fault, wait for a master, drain, and run every checker over the history.

        ``ordering_scope`` "consumer" checks each consumer's view of each producer; "group" checks each
        (producer, message group) across all consumers, for competing consumers with message groups.
        ``acks_durable=False`` declares that a receipted ACK may be forgotten (reported, not failed).
        ``checkers`` adds named checkers to the standard ones (a None value leaves one out).
        In a network of brokers the network checkers run too: ``stuck_bound_ms`` is how long a message
        may wait while a consumer is connected somewhere, ``min_share`` the least share of deliveries
        each consumer must get (None: no bound); ordering becomes the bridge-ordering figure, since
        ActiveMQ promises no order across a bridge.

        When receipted messages are still missing after the drain, every node is restarted and the
        queue drained once more: what appears then is stranded, the rest is lost.
        """
        require_non_negative("workload.check", failover_bound_ms=failover_bound_ms, master_timeout=master_timeout)
        if ordering_scope not in ("consumer", "group"):
            raise InvalidOption("workload.check", "ordering_scope", "'consumer' or 'group'", ordering_scope)
        heal_errors = self.nemesis.heal_all()
        if heal_errors:
            raise RuntimeError(f"faults did not heal: {'; '.join(heal_errors)}")
        # At least one master, not exactly one: a split brain that outlives the faults is a finding
        # for the checkers, not a reason to give up before draining.
        self.cluster.wait_for_any_master(timeout=master_timeout)
        self.drain()
        # Loaded once for the lost check and the checkers (a soak's history is read from its file), again
        # only when the drain after a restart added records.
        ops = self.history.ops()
        missing = check_total_queue(ops).lost
        if missing:
            self.progress(f"{missing} receipted messages missing after the drain: restarting every node to drain again")
            ops.clear()  # this copy's records go before the reload: a soak's would double the peak
            self.cluster.restart_all(timeout=master_timeout)
            self.drain(after_restart=True)
            ops = self.history.ops()
        groups = {g.name: list(g.nodes) for g in self.cluster.topology.groups}
        chosen: dict[str, Checker | None] = {
            **standard_checkers(
                exactly_once=exactly_once,
                acks_durable=acks_durable,
                groups=groups,
                bound_ms=failover_bound_ms,
                ordering_scope=ordering_scope,
            ),
            **(self._network_checkers(stuck_bound_ms, min_share) if self.cluster.topology.is_network else {}),
            **(checkers or {}),
        }
        self.verdict = run_checkers(ops, {name: checker for name, checker in chosen.items() if checker is not None})
        self.progress(self.verdict.summary())
        return self.verdict

    @staticmethod
    def _network_checkers(stuck_bound_ms: float, min_share: float | None) -> dict[str, Checker | None]:
        # Across bridges ActiveMQ promises no order, nor that messages coming back over one (replayed)
        # precede newer local ones: ordering and redelivery order give way to the bridge-ordering figure.
        return {
            "ordering": None,
            "redelivery-order": None,
            **network_checkers(stuck_bound_ms=stuck_bound_ms, min_share=min_share),
        }


class _ClusterGone:
    """Stops a wait that could never end: every node has exited and no open fault keeps them down
    (a broker that died on a full disk, say). Each send would otherwise wait out its own timeout."""

    GRACE_S = 5.0

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.since: float | None = None
        self._next_look = 0.0

    def raise_if_gone(self) -> None:
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + 0.5
        nodes = self.workload.cluster.nodes
        faulted = any(not fault.healed for fault in self.workload.nemesis.injected)
        if faulted or not nodes or any(node.alive for node in nodes.values()):
            self.since = None
            return
        if self.since is None:
            self.since = now
        elif now - self.since > self.GRACE_S:
            last = {name: (node.logs(tail=1).strip() or "no log")[:200] for name, node in nodes.items()}
            raise ClusterError(
                "every node of the cluster exited during the workload: "
                + "; ".join(f"{name}: {line}" for name, line in last.items())
            )
