"""Networks of brokers, each vendor in one run: end-to-end throughput and latency across a bridge, idle
consumers fanned out over the consumer brokers, and how long a bridge takes to carry messages again
after a cut.

1. Bridge: network(2) (a duplex static bridge). Producers on amq1 send persistent 1 KB messages,
   each waiting for its RECEIPT; one consumer on amq2 receives them with client-individual acks. Every
   message carries its send time, so the latency is producer -> amq1 -> bridge -> amq2 -> consumer.
   One producer waiting for each receipt measures the chain's latency as much as its rate, so each
   round runs once with one producer and once with ``--producers`` (4 by default: four sends in
   flight). Both vendors' clusters stay up together, get ``--warm-up`` messages (5000: ActiveMQ's JVM
   needs them to reach its steady rate) and are then measured in alternating rounds
   (``--rounds``, 5 by default; the vendor that goes first alternates too), so a change of the
   machine's load hits both: printed per round and then as the median, the spread (min-max) and the
   ratio of the medians, with the load average at the start of each round.
2. Fan-out: fan_out(2, producer_pair=False). ``--idle`` consumers (1000 by default) subscribe, spread
   over the two consumer brokers, and stay connected; printed: each broker's resident memory before and
   after, and the memory per held connection.
3. Bridge recovery: fan_out(1, producer_pair=False, bridge_links=True), the bridge cut for 2 s and then
   healed; printed: the time from the heal to the first message produced on amq1 after it that the
   consumer on amq2 receives.

Then the pybroker/ActiveMQ ratios where both ran (``--bridge-only`` skips 2 and 3). A vendor that
cannot run networks of brokers is printed as unsupported with its reason. Clients run in this process
(threads); the figures compare the vendors under the same clients on a shared machine, they are not
absolute capacity.

    PYTHONPATH=. python bench/network.py
    PYTHONPATH=. python bench/network.py --messages 2000 --idle 500 --vendor activemq
    PYTHONPATH=. python bench/network.py --bridge-only --rounds 7 --producers 8
    PYTHONPATH=. python bench/network.py --bridge-only --baseline /tmp/before   # git worktree add /tmp/before COMMIT

Each cluster runs in a /tmp/bench-network-* directory removed at the end (``--keep`` keeps them: logs).

``--baseline DIR`` adds pybroker run from another checkout as a third side of the bridge rounds
("pybroker@baseline"), for a change's before and after in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.throughput import rss_kib
from harness.client.plain import PlainStompConnection
from harness.cluster import Cluster
from harness.runtime import LocalRuntime
from harness.runtime.base import Node
from harness.topology import Topology, fan_out, network
from harness.vendors import get_vendor
from harness.vendors.base import Vendor
from harness.vendors.pybroker import PyBroker

BASELINE = "pybroker@baseline"

QUEUE = "/queue/bench.network"
PAYLOAD_BYTES = 1024
# Messages across each bridge before the rounds: ActiveMQ's JVM compiles its hot paths, and demand
# settles. Measured with 1000 x 1 KB rounds: after a warm-up of 1000, ActiveMQ's one-producer rate
# still rose from about 500 to about 1200 msg/s over its first five rounds, then held.
WARM_UP = 5000


@dataclass(frozen=True)
class BridgeFigures:
    rate: float  # messages consumed per second, first send to last delivery
    latencies_ms: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def connect(node: Node, name: str) -> PlainStompConnection:
    conn = PlainStompConnection(node.host, node.stomp_port, timeout=60.0, name=name)
    conn.connect("1.2")
    return conn


def across_the_bridge(
    source: Node, target: Node, count: int, producers: int = 1, timeout: float = 120.0
) -> BridgeFigures:
    """``count`` receipted sends on ``source`` shared by ``producers`` connections (each waits for its
    receipt: ``producers`` sends in flight), consumed on ``target``; each body starts with its send time."""
    consumer = connect(target, "bench-consumer")
    consumer.subscribe(QUEUE, ack="client-individual")
    latencies: list[float] = []
    failure: list[BaseException] = []
    last_at = [0.0]

    def consume() -> None:
        try:
            while len(latencies) < count:
                message = consumer.receive(timeout=timeout)
                sent = float(message.body.split(b" ", 1)[0])
                latencies.append((time.perf_counter() - sent) * 1000.0)
                consumer.write_frame("ACK", {"id": message.headers["ack"]})
            last_at[0] = time.perf_counter()
        except BaseException as exc:
            failure.append(exc)

    def produce(index: int, share: int, start: threading.Event) -> None:
        try:
            producer = connect(source, f"bench-producer-{index}")
            start.wait()
            for _ in range(share):
                producer.send(QUEUE, f"{time.perf_counter():.6f} ".encode() + padding, headers={"persistent": "true"})
            producer.disconnect()
        except BaseException as exc:
            failure.append(exc)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    padding = b"x" * PAYLOAD_BYTES
    start = threading.Event()
    shares = [count // producers + (1 if i < count % producers else 0) for i in range(producers)]
    senders = [threading.Thread(target=produce, args=(i, n, start), daemon=True) for i, n in enumerate(shares)]
    for sender in senders:
        sender.start()
    started = time.perf_counter()
    start.set()
    for sender in senders:
        sender.join(timeout=timeout)
    reader.join(timeout=timeout)
    consumer.disconnect()
    if failure or len(latencies) < count:
        raise RuntimeError(f"only {len(latencies)} of {count} messages crossed the bridge: {failure}")
    return BridgeFigures(count / (last_at[0] - started), latencies)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} / {five:.1f} / {fifteen:.1f}"


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.0f} msg/s (min {min(values):.0f}, max {max(values):.0f})"


@contextlib.contextmanager
def work_directory(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A directory for one cluster's nodes (stores, logs), removed on exit unless ``keep``: a bench
    run writes hundreds of MB of journals and nobody reads them unless a round failed."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def bridge_rounds(
    sides: dict[str, Vendor],
    messages: int,
    producers: int,
    rounds: int,
    warm_up: int = WARM_UP,
    keep: bool = False,
) -> dict[str, dict[int, list[float]]]:
    """network(2) of every side (label -> vendor) up at once, each measured in turn ``rounds`` times
    (the first side alternating), with 1 and ``producers`` producers; returns label -> producers ->
    the rounds' rates."""
    vendors = list(sides)
    settings = sorted({1, producers})
    rates: dict[str, dict[int, list[float]]] = {v: {n: [] for n in settings} for v in vendors}
    with contextlib.ExitStack() as stack:
        clusters: dict[str, Cluster] = {}
        for label, side in sides.items():
            # Entered first, so removed after the runtime has stopped the nodes.
            workdir = stack.enter_context(work_directory("bench-network-", keep))
            runtime = stack.enter_context(LocalRuntime(workdir))
            clusters[label] = stack.enter_context(Cluster(network(2), side, runtime))
        for cluster in clusters.values():
            if warm_up:
                across_the_bridge(cluster.nodes["amq1"], cluster.nodes["amq2"], warm_up, producers)
        for round_no in range(1, rounds + 1):
            order = vendors if round_no % 2 else vendors[::-1]
            print(f"round {round_no} ({load_average()}):")
            for vendor in order:
                source, target = clusters[vendor].nodes["amq1"], clusters[vendor].nodes["amq2"]
                for n in settings:
                    measured = across_the_bridge(source, target, messages, n)
                    rates[vendor][n].append(measured.rate)
                    print(
                        f"  {vendor}: {n} producer(s), {messages} x 1 KB persistent: {measured.rate:.0f} msg/s "
                        f"end to end, latency p50 {measured.percentile(0.5):.1f} ms, "
                        f"p99 {measured.percentile(0.99):.1f} ms"
                    )
    print(f"bridge throughput over {rounds} rounds ({load_average()} at the end):")
    for vendor in vendors:
        for n in settings:
            print(f"  {vendor}: {n} producer(s): {spread(rates[vendor][n])}")
    for other in ("activemq", BASELINE):
        if "pybroker" not in rates or other not in rates:
            continue
        for n in settings:
            py, them = statistics.median(rates["pybroker"][n]), statistics.median(rates[other][n])
            per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(rates["pybroker"][n], rates[other][n], strict=True))
            print(f"  pybroker/{other}, {n} producer(s): {py / them:.2f} (ratio of medians; per round {per_round})")
    return rates


def hold_idle_consumers(nodes: list[Node], count: int) -> tuple[dict[str, int], dict[str, int]]:
    """Resident memory (KiB) of each node before and after ``count`` subscribed consumers spread over them."""
    before = {n.name: rss_kib(n) for n in nodes}
    held: list[PlainStompConnection] = []
    try:
        for i in range(count):
            conn = connect(nodes[i % len(nodes)], f"idle-{i}")
            conn.subscribe(QUEUE, ack="client-individual")
            held.append(conn)
        time.sleep(2.0)  # let the brokers settle (advisories over the bridges, GC)
        after = {n.name: rss_kib(n) for n in nodes}
    finally:
        for conn in held:
            conn.close()
    return before, after


def bridge_recovery_s(cluster: Cluster, cut_s: float = 2.0, timeout: float = 60.0, queue: str = QUEUE) -> float:
    """Seconds from the end of a ``cut_s`` cut of amq2's bridge until a message sent on amq1 after it
    reaches amq2's consumer. ``queue`` should be fresh: what an earlier call left on amq2 would arrive
    at once."""
    source, target = cluster.nodes["amq1"], cluster.nodes["amq2"]
    consumer = connect(target, "recovery-consumer")
    consumer.subscribe(queue, ack="auto")
    producer = connect(source, "recovery-producer")
    producer.send(queue, b"before", headers={"persistent": "true"})
    consumer.receive(timeout=timeout)  # the bridge carries messages
    link = cluster.named_link("amq2->amq1")
    link.set_enabled(False)
    time.sleep(cut_s)
    link.set_enabled(True)
    healed = time.perf_counter()
    deadline = healed + timeout
    sequence = 0
    try:
        while time.perf_counter() < deadline:
            sequence += 1
            producer.send(queue, f"after {sequence}".encode(), headers={"persistent": "true"})
            try:
                consumer.receive(timeout=0.05)
                return time.perf_counter() - healed
            except TimeoutError:
                continue
        raise RuntimeError(f"the bridge carried nothing within {timeout:.0f} s of the heal")
    finally:
        producer.close()
        consumer.close()


def with_cluster(vendor: str, topology: Topology, body: Callable[[Cluster], object], keep: bool = False) -> object:
    with work_directory(f"bench-network-{vendor}-", keep) as workdir, LocalRuntime(workdir) as runtime:
        cluster = Cluster(topology, get_vendor(vendor), runtime)
        try:
            cluster.start()
            return body(cluster)
        finally:
            cluster.stop()


def run_vendor(vendor: str, idle: int, keep: bool = False) -> dict[str, float] | None:
    reason = get_vendor(vendor).unsupported_reason(network(2))
    if reason:
        print(f"{vendor}: unsupported ({reason})")
        return None
    figures: dict[str, float] = {}

    def fan(cluster: Cluster) -> None:
        consumer_nodes = [cluster.nodes["amq2"], cluster.nodes["amq3"]]
        before, after = hold_idle_consumers(consumer_nodes, idle)
        grown = sum(after.values()) - sum(before.values())
        figures["kib_per_connection"] = grown / idle
        spread = ", ".join(f"{n}: {before[n] / 1024:.0f} -> {after[n] / 1024:.0f} MiB" for n in before)
        print(f"{vendor}: {idle} idle consumers held ({spread}): {grown / idle:.1f} KiB per connection")

    def recovery(cluster: Cluster) -> None:
        figures["recovery_s"] = bridge_recovery_s(cluster)
        print(f"{vendor}: bridge carries messages again {figures['recovery_s']:.2f} s after a 2 s cut healed")

    with_cluster(vendor, fan_out(2, producer_pair=False), fan, keep)
    with_cluster(vendor, fan_out(1, producer_pair=False, bridge_links=True), recovery, keep)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages across the bridge per measurement")
    parser.add_argument("--producers", type=int, default=4, help="producers of the second measurement (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the vendors (default 5)")
    parser.add_argument(
        "--warm-up", type=int, default=WARM_UP, help=f"messages across each bridge before the rounds ({WARM_UP})"
    )
    parser.add_argument("--idle", type=int, default=1000, help="idle consumers spread over the consumer brokers")
    parser.add_argument("--bridge-only", action="store_true", help="measure the bridge only (no fan-out, recovery)")
    parser.add_argument("--vendor", action="append", help="pybroker and/or activemq (default: both)")
    parser.add_argument("--baseline", type=Path, help="another checkout whose pybroker is measured alongside")
    parser.add_argument("--keep", action="store_true", help="keep the clusters' directories (logs, stores)")
    args = parser.parse_args(argv)
    if min(args.messages, args.producers, args.rounds) < 1 or args.warm_up < 0:
        parser.error("--messages, --producers and --rounds must be at least 1, --warm-up at least 0")
    vendors: list[str] = []
    for vendor in args.vendor or ["pybroker", "activemq"]:
        reason = get_vendor(vendor).unsupported_reason(network(2))
        if reason:
            print(f"{vendor}: unsupported ({reason})")
        else:
            vendors.append(vendor)
    if not vendors:
        return 1
    sides: dict[str, Vendor] = {v: get_vendor(v) for v in vendors}
    if args.baseline is not None:
        if not (args.baseline / "harness" / "broker").is_dir():
            parser.error(f"--baseline {args.baseline}: not a checkout of this project (no harness/broker)")
        sides[BASELINE] = PyBroker(source_root=args.baseline.resolve())
    print(f"bench/network.py: {', '.join(sides)}, {load_average()}")
    rates = bridge_rounds(sides, args.messages, args.producers, args.rounds, args.warm_up, args.keep)
    if args.bridge_only:
        return 0
    results = {v: run_vendor(v, args.idle, args.keep) for v in vendors}
    py, amq = results.get("pybroker"), results.get("activemq")
    if py and amq:
        rate = statistics.median(rates["pybroker"][1]) / statistics.median(rates["activemq"][1])
        print(
            f"pybroker/activemq: bridge rate (1 producer, medians) {rate:.2f}, "
            f"memory per idle connection {py['kib_per_connection'] / amq['kib_per_connection']:.2f}, "
            f"recovery {py['recovery_s'] / amq['recovery_s']:.2f} ({load_average()})"
        )
    else:
        print("ratios: not computed (a vendor did not run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
