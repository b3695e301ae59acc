"""Run producers and consumers against a cluster while faults happen, then drain and check.

Producers send persistent, receipted messages with increasing sequence numbers; consumers ack each
delivery individually, with a receipt. Each send and ack is an invoke followed by ok, fail or info
(outcome unknown); each delivery is a lone ok receive. After the run the faults are healed and a
fresh consumer drains the queue, so that anything still stored is counted as received.

For seed 004's ordering tools, producers can put messages in message groups (``groups``: JMSXGroupID)
and consumers can subscribe as exclusive consumers (``exclusive``: activemq.exclusive).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from harness.checkers import Scope, Verdict, check_all
from harness.client import (
    AckFailed,
    ConnectionLost,
    Delivery,
    FailoverConnection,
    ReceiptTimeout,
    SendFailed,
    SendTimeout,
    StaleDelivery,
)
from harness.cluster import Cluster, ClusterError
from harness.faults.base import Nemesis
from harness.history import ACK, RECEIVE, SEND, History, MessageKey
from harness.workload.messages import decode_key, encode_body

log = logging.getLogger("harness.workload")

Progress = Callable[[str], None]


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


class _Worker(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.error: BaseException | None = None


class Producer(_Worker):
    def __init__(self, process: int, workload: Workload) -> None:
        super().__init__(f"producer-{process}")
        self.process = process
        self.workload = workload
        self.key_prefix = f"p{process}"
        self.next_seq = 0

    def run(self) -> None:
        wl = self.workload
        opts = wl.options
        try:
            with wl.connect(self.name) as conn:
                interval = 1.0 / opts.rate_per_producer if opts.rate_per_producer > 0 else 0.0
                while not self.stopping.is_set():
                    started = time.monotonic()
                    key = MessageKey(self.key_prefix, self.next_seq)
                    self.next_seq += 1
                    group = wl.group_of(key)
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
                        wl.history.record(self.process, "ok", SEND, key, node=wl.node_of(result.endpoint))
                        wl.count("sent")
                    except SendFailed as exc:
                        wl.history.record(self.process, "fail", SEND, key, error=str(exc))
                    except (SendTimeout, ConnectionLost) as exc:
                        wl.history.record(self.process, "info", SEND, key, error=f"{type(exc).__name__}: {exc}")
                        if isinstance(exc, ConnectionLost):
                            raise
                    self.stopping.wait(max(0.0, interval - (time.monotonic() - started)))
        except BaseException as exc:
            self.error = exc
            log.error("%s stopped: %s", self.name, exc)


class Consumer(_Worker):
    """A client-individual subscriber that records every delivery and acks it with a receipt."""

    def __init__(self, process: int, workload: Workload, drain: bool = False) -> None:
        super().__init__(f"{'drain' if drain else 'consumer'}-{process}")
        self.process = process
        self.workload = workload
        self.drain = drain
        self.last_delivery = time.monotonic()
        self.deliveries = 0
        self.conn: FailoverConnection

    def on_delivery(self, delivery: Delivery) -> None:
        wl = self.workload
        self.last_delivery = time.monotonic()
        key = decode_key(delivery.body)
        value: Any = key if key is not None else {"body": str(delivery.body)[:80]}
        meta: dict[str, Any] = {
            "redelivered": delivery.redelivered,
            "destination": wl.options.destination,
            "message_id": delivery.message_id,
        }
        # The group a message was sent in, from its key: brokers need not echo JMSXGroupID (ActiveMQ's
        # STOMP frames do not), and the group the producer chose is what ordering is checked against.
        group = wl.group_of(key) if key is not None else None
        if group is None:
            group = delivery.headers.get("JMSXGroupID")
        if group:
            meta["group"] = group
        if self.drain:
            meta["drain"] = True
        node = wl.node_of(delivery.endpoint)
        wl.history.record(self.process, "ok", RECEIVE, value, node=node, **meta)
        self.deliveries += 1
        wl.count("received")
        if key is None:
            return
        wl.history.record(self.process, "invoke", ACK, key)
        try:
            self.conn.ack(delivery, receipt=True, timeout=wl.options.ack_timeout_s)
            wl.history.record(self.process, "ok", ACK, key, node=node)
        except (StaleDelivery, AckFailed) as exc:
            # Definitely not acked: the broker keeps the message and will deliver it again.
            wl.history.record(self.process, "fail", ACK, key, error=f"{type(exc).__name__}: {exc}")
        except (ReceiptTimeout, ConnectionLost) as exc:
            wl.history.record(self.process, "info", ACK, key, error=f"{type(exc).__name__}: {exc}")

    def run(self) -> None:
        wl = self.workload
        try:
            with wl.connect(self.name) as conn:
                self.conn = conn
                headers = {"activemq.exclusive": "true"} if wl.options.exclusive else None
                conn.subscribe(wl.options.destination, self.on_delivery, ack="client-individual", headers=headers)
                self.stopping.wait()
        except BaseException as exc:
            self.error = exc
            log.error("%s stopped: %s", self.name, exc)

    def wait_idle(self, idle_s: float, timeout: float) -> None:
        """Wait until no delivery has arrived for ``idle_s`` seconds (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and time.monotonic() - self.last_delivery < idle_s:
            time.sleep(0.1)


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
        self._endpoints = cluster.endpoint_names()
        self._process_ids = iter(range(1_000_000))

    # -- plumbing used by the workers ------------------------------------------------------------
    def connect(self, client_id: str) -> FailoverConnection:
        uri = self.cluster.failover_uri(**self.options.failover_options)
        conn = FailoverConnection(uri, client_id=client_id, heartbeats=(self.options.heartbeat_ms,) * 2)
        conn.connect()
        return conn

    def node_of(self, endpoint: str | None) -> str | None:
        if endpoint is None:
            return None
        return self._endpoints.get(endpoint, endpoint)

    def group_of(self, key: MessageKey) -> str | None:
        """The message group a message is sent in, or None when the workload uses no groups."""
        if self.options.groups <= 0:
            return None
        return f"group-{key.seq % self.options.groups}"

    def count(self, what: str) -> None:
        with self._counts_lock:
            self._counts[what] = self._counts.get(what, 0) + 1

    # -- the run ---------------------------------------------------------------------------------
    @contextmanager
    def running(self, producers: int = 2, consumers: int = 1, **overrides: Any) -> Iterator[Workload]:
        """Run producers and consumers for the duration of the block, probing the cluster meanwhile."""
        if overrides:
            self.options = WorkloadOptions(**{**self.options.__dict__, **overrides})
        consumer_workers = [Consumer(next(self._process_ids), self) for _ in range(consumers)]
        producer_workers = [Producer(next(self._process_ids), self) for _ in range(producers)]
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
                for worker in consumer_workers:
                    worker.wait_idle(self.options.drain_idle_s, timeout=30)
                    worker.stopping.set()
                for worker in consumer_workers:
                    worker.join(timeout=10)
                stop_reporting.set()
                reporter.join(timeout=2)
        errors = [f"{w.name}: {w.error}" for w in [*producer_workers, *consumer_workers] if w.error]
        if errors:
            log.warning("workers stopped with errors: %s", "; ".join(errors))

    def wait_for_traffic(self, receipts: int = 20, timeout: float = 60.0) -> None:
        """Block until ``receipts`` more sends have been receipted: the cluster is serving under load."""
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

    def produce(self, count: int, producers: int = 1, **overrides: Any) -> None:
        """Send ``count`` messages per producer with no consumer running (they stay queued)."""
        if overrides:
            self.options = WorkloadOptions(**{**self.options.__dict__, **overrides})
        workers = [Producer(next(self._process_ids), self) for _ in range(producers)]
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

    def drain(self, timeout: float = 60.0) -> int:
        """Consume everything left on the queue with a fresh consumer; return how many arrived."""
        drainer = Consumer(next(self._process_ids), self, drain=True)
        drainer.start()
        time.sleep(0.2)
        drainer.wait_idle(self.options.drain_idle_s, timeout=timeout)
        drainer.stopping.set()
        drainer.join(timeout=10)
        if drainer.error:
            raise RuntimeError(f"draining {self.options.destination} failed: {drainer.error}")
        self.progress(f"drained {drainer.deliveries} messages left on {self.options.destination}")
        return drainer.deliveries

    def check(
        self,
        *,
        exactly_once: bool = False,
        failover_bound_ms: float | None = None,
        master_timeout: float = 60.0,
        ordering_scope: Scope = "consumer",
    ) -> Verdict:
        """Heal every fault, wait for a master, drain, and run every checker over the history.

        ``ordering_scope`` "consumer" checks each consumer's view of each producer; "group" checks each
        (producer, message group) across all consumers, for competing consumers with message groups.
        """
        heal_errors = self.nemesis.heal_all()
        if heal_errors:
            raise RuntimeError(f"faults did not heal: {'; '.join(heal_errors)}")
        # At least one master, not exactly one: a split brain that outlives the faults is a finding
        # for the checkers, not a reason to give up before draining.
        self.cluster.wait_for_any_master(timeout=master_timeout)
        self.drain()
        groups = {g.name: list(g.nodes) for g in self.cluster.topology.groups}
        self.verdict = check_all(
            self.history.ops(),
            exactly_once=exactly_once,
            groups=groups,
            bound_ms=failover_bound_ms,
            ordering_scope=ordering_scope,
        )
        self.progress(self.verdict.summary())
        return self.verdict


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
