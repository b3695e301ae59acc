"""Failover time after kill -9 of the master, per vendor, store and lock setting, measured in one run.

Each configuration is a 2-node master/slave cluster (shared file, or JDBC on PostgreSQL or MariaDB
with the database or the lease locker), or a 3-node replicated group on a 3-node ZooKeeper ensemble,
with one producer sending persistent,
receipted messages through the failover client. A trial kills the master with SIGKILL and measures,
from the kill, the first receipted send invoked after it (the failover-time checker's definition),
then restarts the dead node as a slave. Prints p50, p95 and max per configuration and the ratios
of each configuration's p50 and p95 to pybroker's.

    python bench/failover.py --trials 10
    python bench/failover.py --trials 5 --config pybroker --config activemq@1000
    python bench/failover.py --trials 5 --jdbc      # adds both vendors x PostgreSQL/MariaDB x both lockers
    python bench/failover.py --config pybroker/postgresql-lease@3000 --config activemq/postgresql-lease@3000
    python bench/failover.py --trials 5 --runtime docker   # the same in containers (databases too)
    python bench/failover.py --trials 10 --replicated  # adds pybroker/replicated-quorum_mem and _disk
    python bench/failover.py --config pybroker/replicated-quorum_mem@2000   # @ zkSessionTimeout in ms
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
from harness.runtime.choice import RUNTIMES, databases_per_run, make_runtime, vendor_on
from harness.services import DatabasePool
from harness.topology import jdbc, replicated, shared_file
from harness.topology.model import Topology
from harness.workload import Workload, WorkloadOptions


@dataclass(frozen=True)
class BenchConfig:
    """``VENDOR[@INTERVAL_MS|@default]`` (shared file) or ``VENDOR/DATABASE-LOCKER[@...]`` (JDBC)."""

    label: str
    vendor: str
    acquire_sleep_ms: int | None  # None: the vendor's default (ActiveMQ: 10000 ms)
    database: str | None = None  # JDBC: postgresql | mariadb
    locker: str = "database"  # JDBC: database | lease (the lease lasts acquire_sleep_ms)
    sync: str | None = None  # replicated: quorum_mem | quorum_disk (acquire_sleep_ms: zkSessionTimeout)

    @classmethod
    def parse(cls, text: str) -> BenchConfig:
        head, _, interval = text.partition("@")
        vendor, _, store = head.partition("/")
        if store.startswith("replicated-"):
            sync = store.removeprefix("replicated-")
            if sync not in ("quorum_mem", "quorum_disk"):
                raise ValueError(f"--config {text}: replicated-quorum_mem or replicated-quorum_disk")
            timeout_ms = 2000 if interval in ("", "default") else int(interval)
            label = f"{vendor} (replicated, 3 nodes, {sync}, zkSessionTimeout {timeout_ms} ms)"
            return cls(label, vendor, timeout_ms, sync=sync)
        database, locker = None, "database"
        if store:
            database, _, locker = store.partition("-")
            if database not in ("postgresql", "mariadb") or locker not in ("database", "lease"):
                raise ValueError(f"--config {text}: the store must be DATABASE-LOCKER, e.g. postgresql-lease")
        setting = "lockAcquireSleepInterval"
        if database is not None:
            setting = "lease" if locker == "lease" else "acquire interval"
        where = f"JDBC {database}, {locker} locker" if database else "shared file"
        if interval in ("", "default") and database is None:
            return cls(f"{vendor} ({where}, {setting} default)", vendor, None)
        preset_ms = 3000 if locker == "lease" else 1000  # the jdbc() preset's defaults
        ms = preset_ms if interval in ("", "default") else int(interval)
        return cls(f"{vendor} ({where}, {setting} {ms} ms)", vendor, ms, database, locker)

    def topology(self) -> Topology:
        if self.sync is not None:
            return replicated(3, 3, self.sync, zk_session_timeout_ms=self.acquire_sleep_ms or 2000)  # type: ignore[arg-type]
        if self.database is None:
            return shared_file(nodes=2, lock_acquire_sleep_ms=self.acquire_sleep_ms, lock_keepalive_ms=None)
        return jdbc(
            nodes=2,
            db=self.database,  # type: ignore[arg-type]
            locker=self.locker,  # type: ignore[arg-type]
            lock_acquire_sleep_ms=self.acquire_sleep_ms,
        )


DEFAULT_CONFIGS = ["pybroker@1000", "activemq@default", "activemq@1000"]
JDBC_CONFIGS = [
    f"{vendor}/{database}-{locker}"
    for database in ("postgresql", "mariadb")
    for locker in ("database", "lease")
    for vendor in ("pybroker", "activemq")
]
# ActiveMQ 5.17 has no replicated store: only pybroker is measured.
REPLICATED_CONFIGS = ["pybroker/replicated-quorum_mem", "pybroker/replicated-quorum_disk"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def measure(
    config: BenchConfig, trials: int, workdir: Path, databases: DatabasePool, runtime_name: str = "local"
) -> list[float]:
    runtime = make_runtime(runtime_name, Path(tempfile.mkdtemp(prefix="cluster-", dir=workdir)))
    vendor = vendor_on(runtime_name, config.vendor)
    # In containers the databases too run as containers, on the cluster's network.
    provider = databases if databases_per_run(runtime_name) else None
    history = History()
    options = WorkloadOptions(destination="/queue/bench.failover", rate_per_producer=200.0, send_timeout_s=30.0)
    with Cluster(config.topology(), vendor, runtime, provider) as cluster, Nemesis(history) as nemesis:
        workload = Workload(cluster, history, nemesis, options, progress=lambda line: None)
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
    result = check_failover_time(history.ops())
    measured = [ms for ms in result.failover_ms if ms is not None]
    if len(measured) != trials:
        raise RuntimeError(f"{config.label}: {trials - len(measured)} of {trials} kills saw no receipted send after")
    return measured


def build_images(vendors: list[str]) -> None:
    from harness.images.build import ensure_images

    ensure_images(vendors, progress=lambda line: print(line, file=sys.stderr, flush=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="kills per configuration (default 10)")
    parser.add_argument(
        "--config",
        action="append",
        help="VENDOR@INTERVAL_MS, VENDOR@default, or VENDOR/DATABASE-LOCKER[@MS] for JDBC (e.g. "
        "activemq/mariadb-lease@3000); repeatable (default: " + ", ".join(DEFAULT_CONFIGS) + ")",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="local",
        help="local processes (default) or containers (images built first, offline, cached by content)",
    )
    parser.add_argument(
        "--jdbc", action="store_true", help="add JDBC rows: both vendors x PostgreSQL/MariaDB x database/lease locker"
    )
    parser.add_argument(
        "--replicated", action="store_true", help="add replicated rows: pybroker x quorum_mem/quorum_disk on ZooKeeper"
    )
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    try:
        extra = (JDBC_CONFIGS if args.jdbc else []) + (REPLICATED_CONFIGS if args.replicated else [])
        configs = [BenchConfig.parse(c) for c in (args.config or DEFAULT_CONFIGS) + extra]
    except ValueError as exc:
        parser.error(str(exc))
    if args.runtime == "docker":
        build_images(sorted({c.vendor for c in configs}))
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="amq-bench-") as tmp, DatabasePool() as databases:
        for config in configs:
            print(f"measuring {config.label}: {args.trials} kills", file=sys.stderr, flush=True)
            results[config.label] = measure(config, args.trials, Path(tmp), databases, args.runtime)
    base_label = configs[0].label
    base = results[base_label]
    print(
        f"\nkill -9 failover time, ms (first receipted send after the kill), {args.trials} trials each, "
        f"runtime {args.runtime}"
    )
    print(
        f"{'configuration':72} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'mean':>8}  p50 ratio  p95 ratio (to first)"
    )
    for label, values in results.items():
        p50, p95, p99 = percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)
        ratio50 = p50 / percentile(base, 0.5)
        ratio95 = p95 / percentile(base, 0.95)
        print(
            f"{label:72} {p50:8.1f} {p95:8.1f} {p99:8.1f} {max(values):8.1f} {statistics.mean(values):8.1f}"
            f"  {ratio50:9.2f}  {ratio95:9.2f}"
        )
    print(f"ratios are to {base_label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
