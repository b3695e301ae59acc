"""What a link proxy with no toxic costs a STOMP producer: the built-in Toxiproxy against the direct
connection, in the same run, on one pybroker node.

Two measurements, each taken on both paths (direct, then through the proxy, then again, alternating
``--rounds`` times so that a slow moment of the machine does not favour one side):

* paced: ``--producers`` processes send persistent 1 KB messages at ``--rate`` messages per second in
  total, each waiting for its RECEIPT; printed per path: the rate reached and the receipt latency p50
  and p99, then proxied/direct ratios (the target: under 10% throughput cost at 2k msg/s);
* flat out: the same producers and ``--consumers`` consumers as fast as they can (bench/throughput.py's
  round), printed as receipted sends per second and end-to-end deliveries per second;
* the proxy alone: ``--echoes`` round trips of 1 KB to a TCP echo server in this process, one at a
  time, direct and through a proxy: the latency one proxy hop adds, without a broker's own variation.

The proxy runs as its own process, as in a scenario (``python -m harness.toxiproxy``); producers and
consumers each run in a process of their own; everything shares this machine's cores.

    python bench/links.py
    python bench/links.py --rate 2000 --producers 4 --seconds 5 --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.queues import Queue
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/throughput.py's client rounds

from throughput import PAYLOAD, QUEUE, Endpoint, connect, run_round

from harness.cluster import Cluster
from harness.runtime import LocalRuntime
from harness.topology import shared_file
from harness.toxiproxy.links import toxiproxy_for_run
from harness.vendors import get_vendor


def paced_producer(endpoint: Endpoint, index: int, rate: float, seconds: float, results: Queue[object]) -> None:
    """Send at ``rate`` per second for ``seconds`` (catching up when behind); report the receipt latencies."""
    try:
        conn = connect(endpoint, f"paced-{index}")
        latencies: list[float] = []
        started = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            due = started + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            conn.send(QUEUE, PAYLOAD)
            latencies.append((time.perf_counter() - sent) * 1000.0)
        elapsed = time.perf_counter() - started
        conn.disconnect()
        results.put((total, elapsed, latencies))
    except BaseException as exc:
        results.put(f"paced-{index}: {type(exc).__name__}: {exc}")


def drain(endpoint: Endpoint) -> None:
    """Empty the queue between rounds, so that every round starts on the same broker state."""
    conn = connect(endpoint, "drain")
    conn.subscribe(QUEUE, ack="auto")
    while True:
        try:
            conn.receive(timeout=1.0)
        except TimeoutError:
            break
    conn.disconnect()


def paced_round(endpoint: Endpoint, producers: int, rate: float, seconds: float) -> tuple[float, list[float]]:
    ctx = multiprocessing.get_context("fork")
    results: Queue[object] = ctx.Queue()
    clients = [
        ctx.Process(target=paced_producer, args=(endpoint, i, rate / producers, seconds, results))
        for i in range(producers)
    ]
    for client in clients:
        client.start()
    sent, longest, latencies = 0, 0.0, []
    try:
        for _ in clients:
            outcome = results.get(timeout=seconds * 20 + 60)
            if isinstance(outcome, str):
                raise RuntimeError(outcome)
            count, elapsed, lat = outcome  # type: ignore[misc]
            sent, longest = sent + count, max(longest, elapsed)
            latencies.extend(lat)
    finally:
        for client in clients:
            client.join(timeout=15)
            if client.is_alive():
                client.kill()
                client.join()
    return sent / longest, latencies


def echo_round_trips(listen: tuple[str, int], count: int) -> list[float]:
    """``count`` 1 KB round trips, one at a time, to the echo server at ``listen``; milliseconds each."""
    with socket.create_connection(listen, timeout=30) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            conn.sendall(PAYLOAD)
            received = 0
            while received < len(PAYLOAD):
                chunk = conn.recv(65536)
                if not chunk:
                    raise RuntimeError("the echo server closed the connection")
                received += len(chunk)
            times.append((time.perf_counter() - started) * 1000.0)
        return times


def start_echo_server() -> tuple[str, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return "127.0.0.1", int(server.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2000.0, help="paced messages per second in total")
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each paced round")
    parser.add_argument("--messages", type=int, default=1500, help="messages per producer in a flat-out round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--echoes", type=int, default=2000, help="1 KB round trips per path to a TCP echo server")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as workdir,
        toxiproxy_for_run() as proxies,
        Cluster(shared_file(nodes=1), get_vendor("pybroker"), LocalRuntime(Path(workdir))) as cluster,
    ):
        node = cluster.nodes["amq1"]
        direct = Endpoint(node.host, node.stomp_port)
        link = proxies.create("bench.clients.amq1", direct.host + f":{direct.port}")
        proxied = Endpoint(link.listen_host, link.listen_port)
        paths = {"direct": direct, "proxied": proxied}
        run_round(direct, args.producers, args.consumers, 100)  # warm up the broker and the proxy
        run_round(proxied, args.producers, args.consumers, 100)

        echo = start_echo_server()
        echo_link = proxies.create("bench.echo", echo)
        echoes: dict[str, list[float]] = {"direct": [], "proxied": []}
        for _ in range(args.rounds):
            echoes["direct"] += echo_round_trips(echo, args.echoes)
            echoes["proxied"] += echo_round_trips((echo_link.listen_host, echo_link.listen_port), args.echoes)
        for name, times in echoes.items():
            print(f"echo 1 KB {name:8s}: p50 {percentile(times, 0.5):6.3f} ms, p99 {percentile(times, 0.99):6.3f} ms")
        proxies.remove(echo_link.name)

        paced: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in paths}
        flat: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        for number in range(1, args.rounds + 1):
            for name, endpoint in paths.items():
                drain(direct)
                reached, latencies = paced_round(endpoint, args.producers, args.rate, args.seconds)
                paced[name].append((reached, latencies))
                print(
                    f"round {number} paced {name:8s}: {reached:7.0f} msg/s, receipt p50 "
                    f"{percentile(latencies, 0.5):5.2f} ms, p99 {percentile(latencies, 0.99):6.2f} ms",
                    flush=True,
                )
            for name, endpoint in paths.items():
                drain(direct)
                send_s, end_s, _ = run_round(endpoint, args.producers, args.consumers, args.messages)
                total = args.producers * args.messages
                flat[name].append((total / send_s, total / end_s))
                print(
                    f"round {number} flat   {name:8s}: {total / send_s:7.0f} receipted sends/s, "
                    f"{total / end_s:7.0f} deliveries/s",
                    flush=True,
                )
        proxies.remove(link.name)

    print(f"\nSummary (median of {args.rounds} rounds; {args.producers} producers, 1 KB persistent, receipts):")
    summary: dict[str, dict[str, float]] = {}
    for name in paths:
        summary[name] = {
            "paced": statistics.median(r for r, _ in paced[name]),
            "p50": statistics.median(percentile(lat, 0.5) for _, lat in paced[name]),
            "p99": statistics.median(percentile(lat, 0.99) for _, lat in paced[name]),
            "sends": statistics.median(s for s, _ in flat[name]),
            "deliveries": statistics.median(d for _, d in flat[name]),
        }
        figures = summary[name]
        print(
            f"  {name:8s} paced at {args.rate:.0f}: {figures['paced']:7.0f} msg/s, p50 {figures['p50']:5.2f} ms, "
            f"p99 {figures['p99']:6.2f} ms; flat out: {figures['sends']:7.0f} sends/s, "
            f"{figures['deliveries']:7.0f} deliveries/s"
        )
    d, p = summary["direct"], summary["proxied"]
    e_d, e_p = echoes["direct"], echoes["proxied"]
    print(
        f"  proxy alone, 1 KB echo round trip: p50 {percentile(e_d, 0.5):.3f} -> {percentile(e_p, 0.5):.3f} ms "
        f"(+{percentile(e_p, 0.5) - percentile(e_d, 0.5):.3f}), p99 {percentile(e_d, 0.99):.3f} -> "
        f"{percentile(e_p, 0.99):.3f} ms"
    )
    print(
        f"  proxied/direct: paced rate {p['paced'] / d['paced']:.3f} "
        f"(cost {100 * (1 - p['paced'] / d['paced']):.1f}%), "
        f"p50 +{p['p50'] - d['p50']:.2f} ms, p99 +{p['p99'] - d['p99']:.2f} ms; flat-out sends "
        f"{p['sends'] / d['sends']:.3f}, deliveries {p['deliveries'] / d['deliveries']:.3f}"
    )


if __name__ == "__main__":
    main()
