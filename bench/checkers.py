"""How fast the history is loaded and checked, on synthetic histories of 100k, 1M and 5M operations.

A synthetic history is what a long run of the workload records: producers send with receipts (a few
sends fail or end uncertain), consumers receive (with message-ids and groups) and ack each delivery,
the probe polls every node, and the nemesis kills the master now and then so that the confirming node
changes. It is written as JSON lines like a saved history, then each size is measured in a process of
its own (so that its peak memory is its own): load (``History.load``), then every standard checker on
the loaded ops, one by one, each figure printed as seconds and operations per second, and the peak
resident memory of that process.

The machine is shared: run it a few times (``--repeat``) and read the spread, not one figure.

    python bench/checkers.py
    python bench/checkers.py --ops 100000 --ops 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.checkers import standard_checkers
from harness.checkers.verdict import run_checkers
from harness.history import ACK, FAULT_END, FAULT_START, NEMESIS, PROBE, PROBE_NODE, RECEIVE, SEND, SUBSCRIBED, History

NODES = ("node1", "node2")
PRODUCERS = 4
CONSUMERS = 4
GROUPS = ("g0", "g1", "g2")
OPS_PER_MESSAGE = 5  # send invoke + completion, delivery, ack invoke + completion
PROBE_EVERY = 200  # messages between two probe rounds
FAULT_EVERY = 20_000  # messages between two kills of the master


def write_history(path: Path, total_ops: int, seed: int) -> int:
    """Write a synthetic history of about ``total_ops`` operations; return how many were written."""
    rng = random.Random(seed)
    index = 0
    now = 1_000_000_000
    master = 0
    fault_id = 0
    with path.open("w", encoding="utf-8") as out:

        def emit(
            process: int | str, type_: str, f: str, value: object, node: str | None = None, **meta: object
        ) -> None:
            nonlocal index, now
            now += rng.randrange(20_000, 80_000)
            record: dict[str, object] = {
                "index": index,
                "process": process,
                "type": type_,
                "f": f,
                "value": value,
                "time_ns": now,
                "node": node,
            }
            if meta:
                record["meta"] = meta
            out.write(json.dumps(record, sort_keys=True) + "\n")
            index += 1

        for consumer in range(CONSUMERS):
            emit(PRODUCERS + consumer, "ok", SUBSCRIBED, {"destination": "/queue/bench", "exclusive": False,
                                                         "cause": "subscribe"}, node=NODES[master])
        seqs = [0] * PRODUCERS
        message = 0
        while index < total_ops:
            if message % PROBE_EVERY == 0:
                for node_no, node in enumerate(NODES):
                    emit(PROBE, "ok", PROBE_NODE, {"round": message // PROBE_EVERY, "accepting": node_no == master,
                                                   "group": "pair"}, node=node)
            if message and message % FAULT_EVERY == 0:
                fault_id += 1
                describe = {"fault": "kill", "target": NODES[master], "fault_id": fault_id}
                emit(NEMESIS, "info", FAULT_START, describe, node=NODES[master])
                master = 1 - master
                emit(NEMESIS, "info", FAULT_END, describe, node=NODES[1 - master])
            producer = rng.randrange(PRODUCERS)
            seqs[producer] += 1
            key = [f"p{producer}", seqs[producer]]
            group = GROUPS[seqs[producer] % len(GROUPS)]
            emit(producer, "invoke", SEND, key, destination="/queue/bench", group=group)
            roll = rng.random()
            if roll < 0.002:
                emit(producer, "fail", SEND, key, error="ConnectionError: refused")
                message += 1
                continue
            if roll < 0.007:
                emit(producer, "info", SEND, key, error="TimeoutError: no receipt")
            else:
                emit(producer, "ok", SEND, key, node=NODES[master])
            consumer = PRODUCERS + GROUPS.index(group) % CONSUMERS  # a group belongs to one consumer
            emit(consumer, "ok", RECEIVE, key, node=NODES[master], redelivered=False, destination="/queue/bench",
                 message_id=f"ID:{NODES[master]}-{message}", group=group)
            emit(consumer, "invoke", ACK, key)
            emit(consumer, "ok", ACK, key, node=NODES[master])
            message += 1
    return index


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def measure_one(path: Path) -> None:
    """Load ``path`` and run every standard checker on it, printing one line per figure."""
    start = time.perf_counter()
    history = History.load(path)
    load_s = time.perf_counter() - start
    ops = history.ops()
    count = len(ops)
    print(f"  load             {load_s:7.2f} s  {count / load_s:>12,.0f} ops/s")
    total = 0.0
    for name, checker in standard_checkers(groups={"pair": list(NODES)}).items():
        start = time.perf_counter()
        verdict = run_checkers(ops, {name: checker})
        took = time.perf_counter() - start
        total += took
        print(f"  {name:<16} {took:7.2f} s  {count / took:>12,.0f} ops/s  valid={verdict.valid}")
    start = time.perf_counter()
    verdict = run_checkers(ops, standard_checkers(groups={"pair": list(NODES)}))
    together_s = time.perf_counter() - start
    print(f"  every checker    {together_s:7.2f} s  {count / together_s:>12,.0f} ops/s  (run together; "
          f"one by one they took {total:.2f} s)")
    print(f"  load + check     {load_s + together_s:7.2f} s")
    print(f"  peak memory      {peak_rss_mib():7.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, action="append", help="history sizes (default 100k, 1M, 5M)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each size this many times")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one size, in this process
    args = parser.parse_args()
    if args.measure is not None:
        measure_one(args.measure)
        return
    with tempfile.TemporaryDirectory(prefix="bench-checkers-") as tmp:
        for size in args.ops or [100_000, 1_000_000, 5_000_000]:
            path = Path(tmp) / f"history-{size}.jsonl"
            written = write_history(path, size, args.seed)
            print(f"{written:,} ops ({path.stat().st_size / 2**20:.0f} MiB of JSON lines)", flush=True)
            for run in range(args.repeat):
                if args.repeat > 1:
                    print(f" run {run + 1} of {args.repeat}", flush=True)
                subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True)
            path.unlink()


if __name__ == "__main__":
    main()
