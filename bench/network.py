"""Networks of brokers, each vendor in one run: end-to-end throughput and latency across a bridge, idle
consumers fanned out over the consumer brokers, and how long a bridge takes to carry messages again
after a cut.

1. Bridge: network(2) (a duplex static bridge). One producer on amq1 sends persistent 1 KB messages,
   each waiting for its RECEIPT; one consumer on amq2 receives them with client-individual acks. Every
   message carries its send time, so the latency is producer -> amq1 -> bridge -> amq2 -> consumer.
   Printed: messages consumed per second, latency p50 and p99.
2. Fan-out: fan_out(2, producer_pair=False). ``--idle`` consumers (1000 by default) subscribe, spread
   over the two consumer brokers, and stay connected; printed: each broker's resident memory before and
   after, and the memory per held connection.
3. Bridge recovery: fan_out(1, producer_pair=False, bridge_links=True), the bridge cut for 2 s and then
   healed; printed: the time from the heal to the first message produced on amq1 after it that the
   consumer on amq2 receives.

Then the pybroker/ActiveMQ ratios where both ran. A vendor that cannot run networks of brokers is
printed as unsupported with its reason. Clients run in this process; the figures compare the vendors
under the same clients on a shared machine, they are not absolute capacity.

    PYTHONPATH=. python bench/network.py
    PYTHONPATH=. python bench/network.py --messages 2000 --idle 500 --vendor activemq
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.throughput import rss_kib
from harness.client.plain import PlainStompConnection
from harness.cluster import Cluster
from harness.runtime import LocalRuntime
from harness.runtime.base import Node
from harness.topology import Topology, fan_out, network
from harness.vendors import get_vendor

QUEUE = "/queue/bench.network"
PAYLOAD_BYTES = 1024
WARM_UP = 200  # messages across the bridge before measuring (the JVM compiles its hot paths; demand settles)


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


def across_the_bridge(source: Node, target: Node, count: int, timeout: float = 120.0) -> BridgeFigures:
    """``count`` receipted sends on ``source``, consumed on ``target``; each body starts with its send time."""
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

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    producer = connect(source, "bench-producer")
    padding = b"x" * PAYLOAD_BYTES
    started = time.perf_counter()
    for _ in range(count):
        producer.send(QUEUE, f"{time.perf_counter():.6f} ".encode() + padding, headers={"persistent": "true"})
    reader.join(timeout=timeout)
    producer.disconnect()
    consumer.disconnect()
    if failure or len(latencies) < count:
        raise RuntimeError(f"only {len(latencies)} of {count} messages crossed the bridge: {failure}")
    return BridgeFigures(count / (last_at[0] - started), latencies)


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


def with_cluster(vendor: str, topology: Topology, body: Callable[[Cluster], object]) -> object:
    with LocalRuntime(Path(tempfile.mkdtemp(prefix=f"bench-network-{vendor}-"))) as runtime:
        cluster = Cluster(topology, get_vendor(vendor), runtime)
        try:
            cluster.start()
            return body(cluster)
        finally:
            cluster.stop()


def run_vendor(vendor: str, messages: int, idle: int) -> dict[str, float] | None:
    reason = get_vendor(vendor).unsupported_reason(network(2))
    if reason:
        print(f"{vendor}: unsupported ({reason})")
        return None
    figures: dict[str, float] = {}

    def bridge(cluster: Cluster) -> None:
        source, target = cluster.nodes["amq1"], cluster.nodes["amq2"]
        across_the_bridge(source, target, WARM_UP)
        measured = across_the_bridge(source, target, messages)
        figures.update(rate=measured.rate, p50=measured.percentile(0.5), p99=measured.percentile(0.99))
        print(
            f"{vendor}: bridge {messages} x 1 KB persistent: {measured.rate:.0f} msg/s end to end, "
            f"latency p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms"
        )

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

    with_cluster(vendor, network(2), bridge)
    with_cluster(vendor, fan_out(2, producer_pair=False), fan)
    with_cluster(vendor, fan_out(1, producer_pair=False, bridge_links=True), recovery)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages across the bridge (after warm-up)")
    parser.add_argument("--idle", type=int, default=1000, help="idle consumers spread over the consumer brokers")
    parser.add_argument("--vendor", action="append", help="pybroker and/or activemq (default: both)")
    args = parser.parse_args(argv)
    results = {v: run_vendor(v, args.messages, args.idle) for v in (args.vendor or ["pybroker", "activemq"])}
    py, amq = results.get("pybroker"), results.get("activemq")
    if py and amq:
        print(
            f"pybroker/activemq: bridge rate {py['rate'] / amq['rate']:.2f}, p99 {py['p99'] / amq['p99']:.2f}, "
            f"memory per idle connection {py['kib_per_connection'] / amq['kib_per_connection']:.2f}, "
            f"recovery {py['recovery_s'] / amq['recovery_s']:.2f}"
        )
    else:
        print("ratios: not computed (a vendor did not run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
