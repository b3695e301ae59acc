"""The checkers give exactly the verdicts, figures and problems recorded in checker_expectations.json.

The expectations were written by the checkers as they stood before they were made faster (main at
59d2b48), on seeded histories with planted anomalies (differential_histories.py): lost, stranded and
failed-send-delivered messages, deliveries after a receipted ACK, reorderings, returned messages at the
tail of the queue, two masters, group and exclusive-queue moves, confirmations without a quorum. They
are data, not computed by the code under test: a faster checker that finds one thing more or less, or
words it otherwise, fails here. A change that means to alter a result updates the file on purpose.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from differential_histories import NODES, PLANTS, generate

from harness.checkers import (
    check_failover_time,
    check_ordering,
    check_total_queue,
    network_checkers,
    quorum_checker,
    standard_checkers,
)
from harness.checkers._common import jsonable
from harness.checkers.verdict import Checker, run_checkers

EXPECTATIONS = Path(__file__).with_name("checker_expectations.json")

# (seed, plants): two clean runs, each anomaly alone, and all of them at once.
CASES: dict[str, tuple[int, frozenset[str]]] = {
    "clean-1": (1, frozenset()),
    "clean-2": (2, frozenset()),
    **{plant: (10 + i, frozenset({plant})) for i, plant in enumerate(sorted(PLANTS))},
    "everything": (30, PLANTS),
}


def checkers() -> dict[str, Checker]:
    return {
        **standard_checkers(groups={"g": list(NODES)}),
        **network_checkers(min_share=0.05),
        "quorum": quorum_checker(NODES, 3, 2000),
        "ordering-group": partial(check_ordering, scope="group"),
        "exactly-once": partial(check_total_queue, exactly_once=True),
        "failover-bound": partial(check_failover_time, bound_ms=50.0),
    }


def results(case: str) -> dict[str, Any]:
    seed, plant = CASES[case]
    verdict = run_checkers(generate(seed, plant), checkers())
    return {
        name: {
            "valid": result.valid,
            "figures": jsonable(result.figures()),
            "summary": result.summary(),
            "problems": list(result.problems),
        }
        for name, result in verdict.results.items()
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_checkers_give_the_recorded_results(case: str) -> None:
    expected = json.loads(EXPECTATIONS.read_text())[case]
    seen = results(case)
    assert sorted(seen) == sorted(expected)
    for name in expected:
        assert seen[name] == expected[name], f"{case}: checker {name} differs from its recorded result"


def test_the_planted_anomalies_are_found() -> None:
    """The expectations are worth comparing against: each plant makes the checkers it targets fail."""
    expected = json.loads(EXPECTATIONS.read_text())
    failing = {case: sorted(n for n, r in expected[case].items() if not r["valid"]) for case in CASES}
    # exactly-once fails on redeliveries, load-spread on a starved consumer: neither is planted.
    for case in ("clean-1", "clean-2"):
        assert set(failing[case]) <= {"exactly-once", "load-spread"}, failing[case]
    assert "total-queue" in failing["loss"]
    assert "total-queue" in failing["stranded"]
    assert "redelivered-after-ack" in failing["ack-redelivery"]
    assert "ordering" in failing["reorder"]
    assert "redelivery-order" in failing["tail-return"]
    assert "split-brain" in failing["split-brain"]
    assert "group-ownership" in failing["group-move"]
    assert "exclusivity" in failing["exclusive"]
    assert "quorum" in failing["quorum"]
    assert "total-queue" in failing["failed-delivered"]
    assert len(failing["everything"]) >= 10, failing["everything"]


if __name__ == "__main__":  # writes the expectations: run only against the checkers you trust
    found = {case: results(case) for case in sorted(CASES)}
    EXPECTATIONS.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
