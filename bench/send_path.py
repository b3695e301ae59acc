"""Where one producer's time goes across a bridge: send -> RECEIPT latency and each broker's CPU per message.

network(2) of each vendor, both up at once, measured in alternating rounds after ``--warm-up`` sends.
The producer is a raw socket on amq1 (no client threads: nothing of the harness's client in the
figure) sending persistent 1 KB messages, each waiting for its RECEIPT; a consumer on amq2 takes them
over the bridge with client-individual acks. Each round measures that, then the same sends with no
consumer anywhere (no bridge traffic: the send path alone). Printed per round: latency p50/p90, the
rate, and each broker process's CPU per message (user + system, from /proc/<pid>/stat, every thread
included), with the load average.

    PYTHONPATH=. python bench/send_path.py
    PYTHONPATH=. python bench/send_path.py --messages 3000 --rounds 3 --vendor pybroker
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.network import QUEUE, connect, load_average, work_directory
from harness.cluster import Cluster
from harness.runtime import LocalRuntime
from harness.runtime.base import Node
from harness.topology import network
from harness.vendors import get_vendor

PAYLOAD = b"x" * 1024
# The sends with no consumer go to a queue of their own: what they leave must not cross the bridge
# in a later round.
ALONE = QUEUE + ".alone"
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_ms(node: Node) -> tuple[float, float]:
    """User and system CPU of the node's process so far, in ms (all its threads)."""
    pid = getattr(node, "pid", None)  # local nodes only
    if pid is None:
        raise RuntimeError(f"node {node.name} has no process")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) * 1000 / TICKS_PER_S, int(fields[12]) * 1000 / TICKS_PER_S


def raw_sends(node: Node, count: int, queue: str = QUEUE) -> list[float]:
    """Seconds from each SEND written to its RECEIPT read, on one plain socket."""
    with socket.create_connection((node.host, node.stomp_port), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0")
        buf = b""
        while b"\0" not in buf:
            buf += sock.recv(65536)
        buf = b""
        latencies = []
        head = b"SEND\ndestination:%s\npersistent:true\ncontent-length:%d\nreceipt:" % (queue.encode(), len(PAYLOAD))
        for i in range(count):
            started = time.perf_counter()
            sock.sendall(head + b"r%d\n\n" % i + PAYLOAD + b"\0")
            while b"\0" not in buf:
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError(f"{node.name} closed the connection after {i} sends")
                buf += data
            frame, _, buf = buf.partition(b"\0")
            if not frame.lstrip(b"\n").startswith(b"RECEIPT"):
                raise RuntimeError(f"{node.name} answered {frame[:200]!r} instead of a RECEIPT")
            buf = buf.lstrip(b"\n")
            latencies.append(time.perf_counter() - started)
        sock.sendall(b"DISCONNECT\n\n\0")
    return latencies


@contextlib.contextmanager
def consuming(node: Node) -> Iterator[None]:
    """A consumer acking every message on ``node`` until the block ends."""
    consumer = connect(node, "send-path-consumer")
    consumer.subscribe(QUEUE, ack="client-individual")
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                message = consumer.receive(timeout=0.2)
            except TimeoutError:
                continue
            consumer.write_frame("ACK", {"id": message.headers["ack"]})

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    try:
        yield
    finally:
        stop.set()
        reader.join()
        consumer.close()


def measure(label: str, cluster: Cluster, count: int, queue: str = QUEUE) -> None:
    source, target = cluster.nodes["amq1"], cluster.nodes["amq2"]
    before = {n.name: cpu_ms(n) for n in (source, target)}
    latencies = sorted(raw_sends(source, count, queue))
    time.sleep(0.5)  # let the bridge finish the last messages before reading the CPU
    used = []
    for node in (source, target):
        (u0, s0), (u1, s1) = before[node.name], cpu_ms(node)
        used.append(f"{node.name} {(u1 - u0) / count * 1000:.0f}+{(s1 - s0) / count * 1000:.0f} us")
    p50, p90 = latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.9)] * 1000
    print(
        f"  {label}: p50 {p50:.2f} ms, p90 {p90:.2f} ms, {count / sum(latencies):.0f} msg/s; "
        f"CPU per message (user+system) {', '.join(used)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="sends per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the vendors")
    parser.add_argument("--warm-up", type=int, default=6000, help="sends across each bridge first (JIT)")
    parser.add_argument("--vendor", action="append", help="pybroker and/or activemq (default: both)")
    args = parser.parse_args(argv)
    vendors = args.vendor or ["pybroker", "activemq"]
    print(f"bench/send_path.py: {', '.join(vendors)}, {load_average()}")
    with contextlib.ExitStack() as stack:
        clusters: dict[str, Cluster] = {}
        for vendor in vendors:
            workdir = stack.enter_context(work_directory("bench-send-path-"))
            runtime = stack.enter_context(LocalRuntime(workdir))
            clusters[vendor] = stack.enter_context(Cluster(network(2), get_vendor(vendor), runtime))
        for cluster in clusters.values():
            with consuming(cluster.nodes["amq2"]):
                raw_sends(cluster.nodes["amq1"], args.warm_up)
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no} ({load_average()}):")
            for vendor in vendors if round_no % 2 else vendors[::-1]:
                cluster = clusters[vendor]
                with consuming(cluster.nodes["amq2"]):
                    measure(f"{vendor}, across the bridge", cluster, args.messages)
                measure(f"{vendor}, no consumer", cluster, args.messages, ALONE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
