"""Throughput and send latency of persistent 1 KB messages, pybroker against ActiveMQ in one run; and
pybroker's memory with a deep queue.

Each vendor runs as a one-node broker (shared_file(nodes=1)). Several producers send persistent 1 KB
messages, each waiting for its RECEIPT (the send latency measured), while several consumers receive
them with client-individual acks. Printed per vendor: receipted sends per second, messages consumed
per second end to end, send latency p50 and p99; then the pybroker/ActiveMQ ratios. Last, pybroker is
filled with ``--queued`` messages and nobody consuming, and its resident memory (VmRSS from /proc)
is printed before and after.

Every client runs in a process of its own (so that one Python interpreter's lock does not cap both
vendors at the same rate), but clients and broker share this machine's cores: the figures compare
the vendors under the same clients, they are not absolute capacity.

With ``--replicated``, pybroker is also measured as a 3-node replicated group on a 3-node ZooKeeper
ensemble, once per sync mode (quorum_mem, quorum_disk), each row beside the one-node shared-file row
and with its ratio to it (all on this machine: the three brokers and ZooKeeper share its cores). The
one-node broker and both replicated groups stay up together and are measured in turn, ``--rounds``
times (default 3): on a machine whose load changes, each ratio is the median of the rounds' ratios,
each taken between rounds run one after the other.

    python bench/throughput.py
    python bench/throughput.py --producers 4 --consumers 4 --messages 2000 --queued 100000
    python bench/throughput.py --replicated --queued 0 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

from harness.client.plain import PlainStompConnection
from harness.cluster import Cluster
from harness.runtime import LocalRuntime
from harness.runtime.base import Node
from harness.topology import replicated, shared_file
from harness.vendors import get_vendor

QUEUE = "/queue/bench.throughput"
DEEP_QUEUE = "/queue/bench.deep"
PAYLOAD = b"x" * 1024
WARM_UP = 300  # messages sent and consumed before measuring (the JVM compiles its hot paths)


@dataclass(frozen=True)
class Throughput:
    vendor: str
    messages: int
    send_rate: float  # receipted sends per second
    end_to_end_rate: float  # messages consumed per second, first send to last delivery
    latencies_ms: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def ratio(part: float, whole: float) -> str:
    return f"{part / whole:.2f}" if whole else "n/a"


def rss_kib(node: Node) -> int:
    """Resident set size of the node's process, from /proc/<pid>/status."""
    pid = getattr(node, "pid", None)
    if pid is None:
        raise RuntimeError(f"node {node.name} has no process")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


@dataclass(frozen=True)
class Endpoint:
    """Where the clients connect; plain data, so that it crosses into client processes."""

    host: str
    port: int


def connect(endpoint: Endpoint, name: str) -> PlainStompConnection:
    conn = PlainStompConnection(endpoint.host, endpoint.port, timeout=60.0, name=name)
    conn.connect("1.2")
    return conn


@dataclass
class Round:
    """What the client processes of one round share: a start signal, a delivery count, results."""

    expected: int
    go: EventType
    done: EventType
    consumed: Synchronized[int]
    last_delivery_at: Synchronized[float]
    results: Queue[tuple[str, list[float] | str]]


def consume(endpoint: Endpoint, index: int, shared: Round, ready: Queue[str]) -> None:
    """A consumer process: client-individual acks (without receipts) until the round's count is reached."""
    try:
        conn = connect(endpoint, f"consumer-{index}")
        conn.subscribe(QUEUE, ack="client-individual")
        ready.put("ready")
        while not shared.done.is_set():
            try:
                message = conn.receive(timeout=0.5)
            except TimeoutError:
                continue
            conn.write_frame("ACK", {"id": message.headers["ack"]})
            with shared.consumed.get_lock():
                shared.consumed.value += 1
                if shared.consumed.value >= shared.expected:
                    shared.last_delivery_at.value = time.monotonic()
                    shared.done.set()
        conn.disconnect()
    except BaseException as exc:
        ready.put(f"consumer-{index}: {exc}")
        shared.results.put((f"consumer-{index}", f"{type(exc).__name__}: {exc}"))
        shared.done.set()


def produce(endpoint: Endpoint, index: int, count: int, shared: Round) -> None:
    """A producer process: ``count`` persistent sends, each waiting for its RECEIPT; reports the latencies."""
    name = f"producer-{index}"
    try:
        conn = connect(endpoint, name)
        shared.go.wait()
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            conn.send(QUEUE, PAYLOAD)
            latencies.append((time.perf_counter() - started) * 1000.0)
        conn.disconnect()
        shared.results.put((name, latencies))
    except BaseException as exc:
        shared.results.put((name, f"{type(exc).__name__}: {exc}"))


def run_round(
    endpoint: Endpoint, producers: int, consumers: int, per_producer: int
) -> tuple[float, float, list[float]]:
    """One round, each client in a process of its own; returns (send seconds, end-to-end seconds, latencies)."""
    ctx = multiprocessing.get_context("fork")
    shared = Round(
        producers * per_producer, ctx.Event(), ctx.Event(), ctx.Value("q", 0), ctx.Value("d", 0.0), ctx.Queue()
    )
    ready: Queue[str] = ctx.Queue()
    clients = [ctx.Process(target=consume, args=(endpoint, i, shared, ready)) for i in range(consumers)]
    clients += [ctx.Process(target=produce, args=(endpoint, i, per_producer, shared)) for i in range(producers)]
    for client in clients:
        client.start()
    try:
        for _ in range(consumers):
            answer = ready.get(timeout=60)
            if answer != "ready":
                raise RuntimeError(answer)
        started = time.monotonic()
        shared.go.set()
        latencies: list[float] = []
        for _ in range(producers):
            name, outcome = shared.results.get(timeout=600)
            if isinstance(outcome, str):
                raise RuntimeError(f"{name}: {outcome}")
            latencies.extend(outcome)
        sent_at = time.monotonic()
        if not shared.done.wait(timeout=120):
            raise RuntimeError(f"only {shared.consumed.value} of {shared.expected} messages consumed within 120 s")
        if shared.consumed.value < shared.expected:
            raise RuntimeError(f"a consumer failed: {shared.results.get(timeout=5)}")
        return sent_at - started, shared.last_delivery_at.value - started, latencies
    finally:
        shared.done.set()
        for client in clients:
            client.join(timeout=15)
            if client.is_alive():
                client.kill()
                client.join()


def measure_throughput(vendor: str, node: Node, producers: int, consumers: int, per_producer: int) -> Throughput:
    endpoint = Endpoint(node.host, node.stomp_port)
    run_round(endpoint, producers, consumers, max(1, WARM_UP // producers))
    send_s, end_to_end_s, latencies = run_round(endpoint, producers, consumers, per_producer)
    total = producers * per_producer
    return Throughput(vendor, total, total / send_s, total / end_to_end_s, latencies)


def fill(node: Node, count: int, producers: int = 4, window: int = 200) -> float:
    """Queue ``count`` persistent 1 KB messages (receipted, ``window`` in flight per producer); returns seconds."""
    errors: list[str] = []

    def send_share(index: int, share: int) -> None:
        try:
            conn = connect(Endpoint(node.host, node.stomp_port), f"filler-{index}")
            left = share
            while left:
                batch = min(window, left)
                ids = []
                for _ in range(batch):
                    receipt = conn.next_receipt_id("send")
                    conn.write_frame(
                        "SEND",
                        {"destination": DEEP_QUEUE, "persistent": "true", "content-length": "1024", "receipt": receipt},
                        PAYLOAD,
                    )
                    ids.append(receipt)
                for receipt in ids:
                    reply = conn.receipt(receipt)
                    if reply.command != "RECEIPT":
                        raise RuntimeError(f"send refused: {reply}")
                left -= batch
            conn.disconnect()
        except BaseException as exc:
            errors.append(f"filler-{index}: {exc}")

    shares = [count // producers + (1 if i < count % producers else 0) for i in range(producers)]
    threads = [threading.Thread(target=send_share, args=(i, share), daemon=True) for i, share in enumerate(shares)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    return time.monotonic() - started


def one_broker(vendor: str, workdir: Path) -> Cluster:
    return Cluster(shared_file(nodes=1, name=f"bench-{vendor}"), get_vendor(vendor), LocalRuntime(workdir / vendor))


def replicated_rounds(
    args: argparse.Namespace, workdir: Path, results: dict[str, Throughput]
) -> dict[str, list[tuple[float, float]]]:
    """The one-node shared-file broker and a replicated group per sync mode, all up at once, measured in
    turn ``args.rounds`` times. Each round's (sends/s ratio, p50 ratio) to the shared-file round just
    before it, per replicated row; ``results`` gets each row's median round (by sends/s)."""
    rows: dict[str, list[Throughput]] = {}
    with contextlib.ExitStack() as stack:
        clusters = {"pybroker shared file (rounds)": stack.enter_context(one_broker("pybroker", workdir / "rounds"))}
        for sync in ("quorum_mem", "quorum_disk"):
            topology = replicated(3, 3, sync, name=f"bench-replicated-{sync}")
            runtime = LocalRuntime(workdir / sync)
            clusters[f"pybroker replicated {sync}"] = stack.enter_context(
                Cluster(topology, get_vendor("pybroker"), runtime)
            )
        for round_no in range(1, args.rounds + 1):
            for label, cluster in clusters.items():
                print(f"round {round_no}: {label}: {args.producers} producers x {args.messages}", file=sys.stderr)
                measured = measure_throughput(label, cluster.master(), args.producers, args.consumers, args.messages)
                rows.setdefault(label, []).append(measured)
    base_label, *replicated_labels = clusters
    ratios: dict[str, list[tuple[float, float]]] = {}
    for label in [base_label, *replicated_labels]:
        ordered = sorted(rows[label], key=lambda r: r.send_rate)
        results[label] = ordered[len(ordered) // 2]
    for label in replicated_labels:
        ratios[label] = [
            (row.send_rate / base.send_rate, row.percentile(0.5) / base.percentile(0.5))
            for row, base in zip(rows[label], rows[base_label], strict=True)
        ]
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--producers", type=int, default=4, help="concurrent producers (default 4)")
    parser.add_argument("--consumers", type=int, default=4, help="concurrent consumers (default 4)")
    parser.add_argument("--messages", type=int, default=2000, help="messages per producer (default 2000)")
    parser.add_argument("--queued", type=int, default=100_000, help="messages queued for the memory figure")
    parser.add_argument(
        "--replicated", action="store_true", help="add pybroker rows for the replicated store, one per sync mode"
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --replicated: rounds of each row (default 3)")
    args = parser.parse_args(argv)
    if min(args.producers, args.consumers, args.messages, args.rounds) < 1 or args.queued < 0:
        parser.error("--producers, --consumers, --messages and --rounds must be at least 1, --queued at least 0")

    results: dict[str, Throughput] = {}
    memory: tuple[int, int, float] | None = None
    with tempfile.TemporaryDirectory(prefix="amq-bench-throughput-") as tmp:
        for vendor in ("pybroker", "activemq"):
            with one_broker(vendor, Path(tmp)) as cluster:
                node = cluster.master()
                print(
                    f"{vendor}: {args.producers} producers x {args.messages} + {args.consumers} consumers",
                    file=sys.stderr,
                )
                results[vendor] = measure_throughput(vendor, node, args.producers, args.consumers, args.messages)
                if vendor == "pybroker" and args.queued:
                    print(f"pybroker: queueing {args.queued} messages for the memory figure", file=sys.stderr)
                    before = rss_kib(node)
                    seconds = fill(node, args.queued)
                    memory = (before, rss_kib(node), seconds)
        replicated_ratios = replicated_rounds(args, Path(tmp), results) if args.replicated else {}

    print(
        f"\npersistent {len(PAYLOAD)}-byte messages with receipts: {args.producers} producers x {args.messages} "
        f"messages, {args.consumers} consumers (client-individual acks)"
    )
    print(f"{'vendor':30} {'sends/s':>9} {'consumed/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
    for vendor, result in results.items():
        latencies = result.latencies_ms
        print(
            f"{vendor:30} {result.send_rate:9.0f} {result.end_to_end_rate:11.0f} {result.percentile(0.5):8.2f} "
            f"{result.percentile(0.99):8.2f} {statistics.mean(latencies):8.2f} {max(latencies):8.2f}"
        )
    py, amq = results["pybroker"], results["activemq"]
    print(
        f"pybroker/ActiveMQ ratios: sends/s {ratio(py.send_rate, amq.send_rate)}, consumed/s "
        f"{ratio(py.end_to_end_rate, amq.end_to_end_rate)}, p50 latency "
        f"{ratio(py.percentile(0.5), amq.percentile(0.5))}, "
        f"p99 latency {ratio(py.percentile(0.99), amq.percentile(0.99))}"
    )
    for label, ratios in replicated_ratios.items():
        sends = statistics.median(r[0] for r in ratios)
        p50 = statistics.median(r[1] for r in ratios)
        print(
            f"{label} / pybroker shared file (one node), median of {len(ratios)} rounds "
            f"({', '.join(f'{r[0]:.2f}' for r in ratios)}): sends/s {sends:.2f}, p50 latency {p50:.2f}"
        )
    if memory is not None:
        before, after, seconds = memory
        per_message = (after - before) * 1024 / args.queued
        print(
            f"pybroker memory with {args.queued} persistent 1 KB messages queued: "
            f"VmRSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after ({per_message:.0f} bytes per "
            f"message); filled in {seconds:.1f} s ({args.queued / seconds:.0f} msg/s, 4 producers with 200 "
            "receipts in flight each)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
