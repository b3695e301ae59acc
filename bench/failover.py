"""Failover time after kill -9 of the master, per vendor and lock setting, measured in one run.

Each configuration is a 2-node shared-file master/slave cluster with one producer sending persistent,
receipted messages through the failover client. A trial kills the master with SIGKILL and measures,
from the kill, the first receipted send invoked after it (the failover-time checker's definition),
then restarts the dead node as a slave. Prints p50, p95 and max per configuration and the ratios
of each configuration's p50 and p95 to pybroker's.

    python bench/failover.py --trials 10
    python bench/failover.py --trials 5 --config pybroker --config activemq@1000
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.checkers import check_failover_time
from harness.cluster import Cluster
from harness.faults import Kill, Nemesis
from harness.history import History
from harness.runtime import LocalRuntime
from harness.topology import shared_file
from harness.vendors import get_vendor
from harness.workload import Workload, WorkloadOptions


@dataclass(frozen=True)
class BenchConfig:
    label: str
    vendor: str
    acquire_sleep_ms: int | None  # None: the vendor's default (ActiveMQ: 10000 ms)

    @classmethod
    def parse(cls, text: str) -> BenchConfig:
        vendor, _, interval = text.partition("@")
        if interval in ("", "default"):
            return cls(f"{vendor} (lockAcquireSleepInterval default)", vendor, None)
        return cls(f"{vendor} (lockAcquireSleepInterval {int(interval)} ms)", vendor, int(interval))


DEFAULT_CONFIGS = ["pybroker@1000", "activemq@default", "activemq@1000"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def measure(config: BenchConfig, trials: int, workdir: Path) -> list[float]:
    topology = shared_file(nodes=2, lock_acquire_sleep_ms=config.acquire_sleep_ms, lock_keepalive_ms=None)
    runtime = LocalRuntime(workdir / config.vendor / str(config.acquire_sleep_ms))
    cluster = Cluster(topology, get_vendor(config.vendor), runtime)
    history = History()
    nemesis = Nemesis(history)
    options = WorkloadOptions(destination="/queue/bench.failover", rate_per_producer=200.0, send_timeout_s=30.0)
    workload = Workload(cluster, history, nemesis, options, progress=lambda line: None)
    try:
        cluster.start()
        with workload.running(producers=1, consumers=1):
            for trial in range(trials):
                time.sleep(1.0)
                master = cluster.master()
                with nemesis.inject(Kill(master)):
                    cluster.wait_for_master(timeout=60, exclude=(master.name,))
                    time.sleep(0.5)  # let the producer's first receipted send land before the restart
                cluster.wait_standby(master, timeout=60)
                print(f"  {config.label}: trial {trial + 1}/{trials} done", file=sys.stderr, flush=True)
            time.sleep(0.5)
    finally:
        nemesis.heal_all()
        cluster.stop()
    result = check_failover_time(history.ops())
    measured = [ms for ms in result.failover_ms if ms is not None]
    if len(measured) != trials:
        raise RuntimeError(f"{config.label}: {trials - len(measured)} of {trials} kills saw no receipted send after")
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="kills per configuration (default 10)")
    parser.add_argument(
        "--config",
        action="append",
        help="VENDOR@INTERVAL_MS or VENDOR@default; repeatable (default: " + ", ".join(DEFAULT_CONFIGS) + ")",
    )
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    configs = [BenchConfig.parse(c) for c in (args.config or DEFAULT_CONFIGS)]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="amq-bench-") as tmp:
        for config in configs:
            print(f"measuring {config.label}: {args.trials} kills", file=sys.stderr, flush=True)
            results[config.label] = measure(config, args.trials, Path(tmp))
    base_label = configs[0].label
    base = results[base_label]
    print(f"\nkill -9 failover time, ms (first receipted send after the kill), {args.trials} trials each")
    print(f"{'configuration':52} {'p50':>8} {'p95':>8} {'max':>8} {'mean':>8}  p50 ratio  p95 ratio (to first)")
    for label, values in results.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        ratio50 = p50 / percentile(base, 0.5)
        ratio95 = p95 / percentile(base, 0.95)
        print(
            f"{label:52} {p50:8.1f} {p95:8.1f} {max(values):8.1f} {statistics.mean(values):8.1f}"
            f"  {ratio50:9.2f}  {ratio95:9.2f}"
        )
    print(f"ratios are to {base_label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
