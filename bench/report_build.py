"""How long the HTML report takes to build, and what it costs per scenario, from real results.

Reads one or more results directories, then times each part the way ``amq-harness report html`` does
them: reading the result lines, drawing each scenario's plots (the bulk of the time), the rest of the
page. Prints each figure, the time per scenario with a history and the size of the page, and the
ratio of the scenarios' drawing time between the two vendors (they differ by history length: ActiveMQ
runs are longer, so carry more operations).

    PYTHONPATH=. python bench/report_build.py reports/results
    PYTHONPATH=. python bench/report_build.py reports/nightly/merged --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

from harness.report.html import render_html, scenario_plots
from harness.report.inputs import load_result_sets
from harness.report.matrix import build_matrix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="results directories (or results.jsonl files)")
    parser.add_argument("--repeat", type=int, default=1, help="build the whole page this many times")
    args = parser.parse_args()

    started = time.perf_counter()
    results = load_result_sets(args.results)
    read_s = time.perf_counter() - started
    shown = [cell.result for s in build_matrix(results) for cells in s.rows.values() for cell in cells.values()]
    with_history = [r for r in shown if r.get("history")]
    per_vendor: dict[str, list[float]] = defaultdict(list)
    for result in with_history:
        drawn = time.perf_counter()
        scenario_plots(result)
        per_vendor[str(result["vendor"])].append(time.perf_counter() - drawn)
    builds = []
    cpu = []
    size = 0
    for _ in range(args.repeat):
        built, built_cpu = time.perf_counter(), time.process_time()
        size = len(render_html(results).encode("utf-8"))
        builds.append(time.perf_counter() - built)
        cpu.append(time.process_time() - built_cpu)

    load = os.getloadavg()[0]
    print(f"results read: {len(results)} lines in {read_s:.2f} s; cells shown: {len(shown)}, ", end="")
    print(f"{len(with_history)} with a history")
    for vendor, times in sorted(per_vendor.items()):
        mean, worst = statistics.mean(times), max(times)
        print(f"plots of one scenario, {vendor:9}: mean {mean:.2f} s, max {worst:.2f} s (n={len(times)})")
    if len(per_vendor) == 2:
        (a, ta), (b, tb) = sorted(per_vendor.items())
        print(f"ratio {a}/{b} (mean drawing time per scenario): {statistics.mean(ta) / statistics.mean(tb):.2f}")
    # CPU time says what the build costs on a machine to itself; wall time what it took here, under this load.
    print(f"whole page: {statistics.median(builds):.1f} s wall, {statistics.median(cpu):.1f} s CPU ", end="")
    print(f"(median of {len(builds)}), {size / 1e6:.1f} MB")
    if with_history:
        per_wall, per_cpu = statistics.median(builds) / len(with_history), statistics.median(cpu) / len(with_history)
        print(f"per scenario with a history: {per_wall:.2f} s wall, {per_cpu:.2f} s CPU")
    print(f"(1-minute load average while measuring: {load:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
