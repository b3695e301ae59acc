"""How fast the history is loaded and checked, on synthetic histories of 100k, 1M and 5M operations.

A synthetic history is what a long run of the workload records: producers send with receipts (a few
sends fail or end uncertain), consumers receive (with message-ids and groups) and ack each delivery,
the probe polls every node, and the nemesis kills the master now and then so that the confirming node
changes. It is written as JSON lines like a saved history, then each size is measured in a process of
its own (so that its peak memory is its own): load (``History.load``), then every standard checker on
the loaded ops, one by one, each figure printed as seconds and operations per second, and the peak
resident memory of that process. Each figure is given as wall-clock seconds and as the CPU seconds of
the process: on a shared machine the wall clock measures the other load as much as the code.

``--baseline DIR`` measures another checkout too (``git worktree add DIR COMMIT``), in the same run, on
the same histories, alternating with this one, and prints both side by side: the CPU seconds of the
load, of each checker and of all of them, the wall-clock of load + check and the peak memory, with the
ratio of each and the load average of the machine (which every figure on a shared machine depends on).

The machine is shared: run it a few times (``--repeat``) and read the spread, not one figure.

    python bench/checkers.py
    python bench/checkers.py --ops 100000 --ops 1000000 --repeat 3
    python bench/checkers.py --ops 1000000 --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.checkers import standard_checkers
from harness.checkers.verdict import run_checkers
from harness.history import (
    ACK,
    FAULT_END,
    FAULT_START,
    NEMESIS,
    PROBE,
    PROBE_NODE,
    RECEIVE,
    SEND,
    SUBSCRIBED,
    UNSUBSCRIBED,
    History,
)

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
            emit(
                PRODUCERS + consumer,
                "ok",
                SUBSCRIBED,
                {"destination": "/queue/bench", "exclusive": False, "cause": "subscribe"},
                node=NODES[master],
            )
        seqs = [0] * PRODUCERS
        message = 0
        while index < total_ops:
            if message % PROBE_EVERY == 0:
                for node_no, node in enumerate(NODES):
                    emit(
                        PROBE,
                        "ok",
                        PROBE_NODE,
                        {"round": message // PROBE_EVERY, "accepting": node_no == master, "group": "pair"},
                        node=node,
                    )
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
            emit(
                consumer,
                "ok",
                RECEIVE,
                key,
                node=NODES[master],
                redelivered=False,
                destination="/queue/bench",
                message_id=f"ID:{NODES[master]}-{message}",
                group=group,
            )
            emit(consumer, "invoke", ACK, key)
            emit(consumer, "ok", ACK, key, node=NODES[master])
            message += 1
    return index


RECONNECT_EVERY = 500  # messages between two reconnects of the lone consumer
LEFT_UNACKED = 5  # messages it leaves unacked at each reconnect: returned, then delivered again


def write_reconnecting(path: Path, total_ops: int) -> int:
    """A history of one consumer alone on its queue that loses its connection every RECONNECT_EVERY
    messages with LEFT_UNACKED of them unacked, which come back first in its next session: many
    sessions for redelivery-order to check (which once looked back over every delivery for each)."""
    index = 0
    now = 1_000_000_000
    with path.open("w", encoding="utf-8") as out:

        def emit(process: int, type_: str, f: str, value: object, node: str | None = None, **meta: object) -> None:
            nonlocal index, now
            now += 50_000
            record: dict[str, object] = {"index": index, "process": process, "type": type_, "f": f}
            record.update({"value": value, "time_ns": now, "node": node})
            if meta:
                record["meta"] = meta
            out.write(json.dumps(record, sort_keys=True) + "\n")
            index += 1

        queue, consumer, node = "/queue/bench", PRODUCERS, NODES[0]
        session = {"destination": queue, "exclusive": False}
        emit(consumer, "ok", SUBSCRIBED, {**session, "cause": "subscribe"}, node)
        returned: list[list[object]] = []
        message = 0
        while index < total_ops:
            key: list[object] = ["p0", message]
            emit(0, "invoke", SEND, key, destination=queue)
            emit(0, "ok", SEND, key, node)
            for again in [*returned, key]:
                emit(
                    consumer,
                    "ok",
                    RECEIVE,
                    again,
                    node,
                    destination=queue,
                    message_id=f"ID:{again[1]}",
                    redelivered=again is not key,
                )
                if again is not key or message % RECONNECT_EVERY < RECONNECT_EVERY - LEFT_UNACKED:
                    emit(consumer, "invoke", ACK, again)
                    emit(consumer, "ok", ACK, again, node)
            returned = []
            if message % RECONNECT_EVERY == RECONNECT_EVERY - 1:
                emit(consumer, "ok", UNSUBSCRIBED, {"destination": queue, "cause": "interrupted"}, node)
                emit(consumer, "ok", SUBSCRIBED, {**session, "cause": "resumed"}, node)
                returned = [["p0", seq] for seq in range(message - LEFT_UNACKED + 1, message + 1)]
            message += 1
    return index


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


class Clock:
    """Wall-clock and CPU seconds of this process since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def took(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def line(what: str, count: int, wall: float, cpu: float, extra: str = "") -> str:
    return f"  {what:<22} {wall:7.2f} s {cpu:7.2f} s cpu  {count / cpu:>11,.0f} ops/cpu-s{extra}"


# Issue 14's targets: a history of up to TIME_TARGET_OPS ops loaded and checked within TIME_TARGET_S of
# wall-clock and of CPU, and up to MEMORY_TARGET_OPS ops within MEMORY_TARGET_MIB of peak memory.
TIME_TARGET_S = 5.0
TIME_TARGET_OPS = 1_000_000
MEMORY_TARGET_MIB = 2048
MEMORY_TARGET_OPS = 5_000_000


def targets(count: int, wall: float, cpu: float, rss_mib: float) -> str:
    """One line: whether this run on a history of ``count`` ops met the targets that apply to that size."""
    parts = []
    if count <= TIME_TARGET_OPS:
        met = wall < TIME_TARGET_S and cpu < TIME_TARGET_S
        parts.append(
            f"load + check {wall:.2f} s wall, {cpu:.2f} s cpu, under {TIME_TARGET_S:.1f} s: "
            + ("met" if met else "NOT MET")
        )
    else:
        parts.append(f"no time target above {TIME_TARGET_OPS:,} ops")
    if count <= MEMORY_TARGET_OPS:
        met = rss_mib < MEMORY_TARGET_MIB
        parts.append(f"peak memory {rss_mib:.0f} MiB, under {MEMORY_TARGET_MIB} MiB: " + ("met" if met else "NOT MET"))
    else:
        parts.append(f"no memory target above {MEMORY_TARGET_OPS:,} ops")
    return "  targets: " + "; ".join(parts)


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def measure_one(path: Path, figures: Path | None = None, size: int | None = None) -> None:
    """Load ``path`` and run every standard checker on it, printing one line per figure (``size``: the
    history size asked for, which the targets are for; the written history has a few ops more)."""
    source = Path(sys.modules["harness"].__file__ or "").parent.parent
    print(f"  {'':<22} {'wall':>9} {'':<13}  (harness from {source}; {load_average()})")
    checker_cpu: dict[str, float] = {}
    clock = Clock()
    history = History.load(path)
    load_wall, load_cpu = clock.took()
    ops = history.ops()
    count = len(ops)
    print(line("load", count, load_wall, load_cpu))
    total = 0.0
    for name, checker in standard_checkers(groups={"pair": list(NODES)}).items():
        clock = Clock()
        verdict = run_checkers(ops, {name: checker})
        wall, cpu = clock.took()
        total += cpu
        checker_cpu[name] = cpu
        print(line(name, count, wall, cpu, f"  valid={verdict.valid}"))
    clock = Clock()
    verdict = run_checkers(ops, standard_checkers(groups={"pair": list(NODES)}))
    wall, cpu = clock.took()
    print(line("every checker", count, wall, cpu, f"  (run together; one by one {total:.2f} cpu-s)"))
    print(line("load + check", count, load_wall + wall, load_cpu + cpu))
    print(f"  peak memory            {peak_rss_mib():7.0f} MiB", flush=True)
    print(targets(size or count, load_wall + wall, load_cpu + cpu, peak_rss_mib()), flush=True)
    if figures is not None:
        totals = {
            "load_cpu": load_cpu,
            "check_cpu": cpu,
            "wall": load_wall + wall,
            "rss_mib": peak_rss_mib(),
            "checkers": checker_cpu,
        }
        figures.write_text(json.dumps(totals))


def compare(before: dict[str, Any], after: dict[str, Any]) -> None:
    """The two checkouts side by side: CPU seconds of each step, wall-clock and peak memory."""
    print(f"  {'cpu-s (wall last)':<22} {'baseline':>9} {'this':>9} {'speed-up':>9}   ({load_average()})")
    rows = [("load", before["load_cpu"], after["load_cpu"])]
    # One by one, each checker builds the shared indexes it needs again: their sum exceeds "every checker".
    rows += [
        (name, before["checkers"][name], cpu) for name, cpu in after["checkers"].items() if name in before["checkers"]
    ]
    rows += [("every checker", before["check_cpu"], after["check_cpu"])]
    rows += [("load + check", before["load_cpu"] + before["check_cpu"], after["load_cpu"] + after["check_cpu"])]
    rows += [("wall, load + check", before["wall"], after["wall"])]
    for name, then, now in rows:
        print(f"  {name:<22} {then:9.2f} {now:9.2f} {then / now if now else float('inf'):8.2f}x")
    print(f"  {'peak memory, MiB':<22} {before['rss_mib']:9.0f} {after['rss_mib']:9.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, action="append", help="history sizes (default 100k, 1M, 5M)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each size this many times")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--shape",
        choices=("workload", "reconnecting"),
        default="workload",
        help="the workload's history (default), or one of a lone consumer that reconnects every 500 messages",
    )
    parser.add_argument("--baseline", type=Path, help="another checkout whose harness is measured alongside")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one size, in this process
    parser.add_argument("--figures", type=Path, help=argparse.SUPPRESS)  # where --measure leaves its totals
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # the size --measure's history was asked for
    args = parser.parse_args()
    if args.measure is not None:
        measure_one(args.measure, args.figures, args.size)
        return
    with tempfile.TemporaryDirectory(prefix="bench-checkers-") as tmp:
        for size in args.ops or [100_000, 1_000_000, 5_000_000]:
            path = Path(tmp) / f"history-{size}.jsonl"
            if args.shape == "reconnecting":
                written = write_reconnecting(path, size)
            else:
                written = write_history(path, size, args.seed)
            print(f"{written:,} ops ({path.stat().st_size / 2**20:.0f} MiB of JSON lines)", flush=True)
            for run in range(args.repeat):
                if args.repeat > 1:
                    print(f" run {run + 1} of {args.repeat}", flush=True)
                totals: list[dict[str, float]] = []
                for root in [None] if args.baseline is None else [args.baseline, None]:
                    env = dict(os.environ)
                    if root is not None:
                        if not (root / "harness" / "history.py").is_file():
                            parser.error(f"--baseline {root}: no harness/history.py there")
                        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
                    figures = Path(tmp) / "figures.json"
                    command = [sys.executable, __file__, "--measure", str(path), "--figures", str(figures)]
                    command += ["--size", str(size)]
                    subprocess.run(command, check=True, env=env)
                    totals.append(json.loads(figures.read_text()))
                if len(totals) == 2:
                    compare(*totals)
            path.unlink()


if __name__ == "__main__":
    main()
