"""bench/checkers.py computes whether a run met issue 14's targets from the run's own figures."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[3] / "bench" / "checkers.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_checkers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_targets_line_says_met_only_when_every_figure_is_under_its_bound():
    bench = _bench()
    assert bench.targets(1_000_000, 4.2, 4.1, 400).count(": met") == 2
    slow_wall = bench.targets(1_000_000, 5.3, 4.1, 400)
    assert "5.30 s wall, 4.10 s cpu, under 5.0 s: NOT MET" in slow_wall
    assert "NOT MET" in bench.targets(100_000, 0.5, 5.01, 60)  # CPU counts as much as the wall clock
    big = bench.targets(5_000_000, 30.0, 29.0, 2100)
    assert "no time target above 1,000,000 ops" in big
    assert "peak memory 2100 MiB, under 2048 MiB: NOT MET" in big
    assert "no memory target" in bench.targets(6_000_000, 40.0, 39.0, 2500)
