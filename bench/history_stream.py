"""What streaming the history to disk costs and saves: in memory (``History``) against streamed to a file
(``StreamedHistory``), on the same synthetic records of a workload, each side in a process of its own.

Per side: CPU seconds to record N ops (what producer and consumer threads pay per operation), how much
the process's resident memory grew while recording (what a soak's harness holds), and CPU seconds of
``ops()`` afterwards (in memory a copy of the list; streamed, loading the file). Sides alternate over
``--repeat`` rounds in one run; the ratio is printed per round. The machine is shared: read the spread.

    python bench/history_stream.py
    python bench/history_stream.py --ops 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.chaos.memory import rss_bytes
from harness.history import ACK, PROBE, PROBE_NODE, RECEIVE, SEND, History, MessageKey
from harness.history_stream import StreamedHistory


def record_workload(history: History, ops: int) -> None:
    """About ``ops`` records shaped like a chaos run's: a send (invoke, ok), its delivery, its ack
    (invoke, ok), and a probe every few messages."""
    seq = 0
    while len(history) < ops:
        key = MessageKey(f"p{seq % 2}", seq)
        history.record(seq % 2, "invoke", SEND, key, destination="/queue/amqh.soak")
        history.record(seq % 2, "ok", SEND, key, node="amq1")
        history.record(
            3,
            "ok",
            RECEIVE,
            key,
            node="amq1",
            redelivered=False,
            destination="/queue/amqh.soak",
            message_id=f"ID:amq1-{seq}",
        )
        history.record(3, "invoke", ACK, key)
        history.record(3, "ok", ACK, key, node="amq1")
        if seq % 5 == 0:
            history.record(PROBE, "ok", PROBE_NODE, {"round": seq, "accepting": True, "group": "g"}, node="amq1")
        seq += 1


def one_side(side: str, ops: int, workdir: Path) -> dict[str, float]:
    before = rss_bytes() or 0
    history = History() if side == "memory" else StreamedHistory(workdir / "history.jsonl")
    started = time.process_time()
    record_workload(history, ops)
    recorded = time.process_time() - started
    grown = (rss_bytes() or 0) - before
    started = time.process_time()
    loaded = len(history.ops())
    read = time.process_time() - started
    return {"record_cpu_s": recorded, "rss_growth_mb": grown / 2**20, "ops_cpu_s": read, "ops": loaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--side", choices=("memory", "streamed"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one_side(args.side, args.ops, Path(tmp))))
        return
    for round_ in range(1, args.repeat + 1):
        figures = {}
        for side in ("memory", "streamed") if round_ % 2 else ("streamed", "memory"):
            out = subprocess.run(
                [sys.executable, __file__, "--side", side, "--ops", str(args.ops)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            figures[side] = json.loads(out)
        for side in ("memory", "streamed"):
            f = figures[side]
            print(
                f"round {round_} {side:8}: {f['ops']} ops, record {f['record_cpu_s']:.2f} CPU s "
                f"({f['record_cpu_s'] / f['ops'] * 1e6:.1f} us/op), RSS +{f['rss_growth_mb']:.0f} MB while recording, "
                f"ops() {f['ops_cpu_s']:.2f} CPU s"
            )
        m, s = figures["memory"], figures["streamed"]
        print(
            f"round {round_} streamed/memory: record CPU x{s['record_cpu_s'] / m['record_cpu_s']:.2f}, "
            f"RSS growth x{s['rss_growth_mb'] / max(m['rss_growth_mb'], 0.1):.3f}"
        )


if __name__ == "__main__":
    main()
