"""Every collected scenario writes a result line, also when it fails before its cluster starts."""

from __future__ import annotations

import json
from typing import Any

import pytest

TYPO = """
import pytest
from harness.topology import shared_file

@pytest.mark.topolgy(shared_file(nodes=2))
def test_typo_in_the_marker(cluster):
    raise AssertionError("must not run")

@pytest.mark.topology("shared_file")
def test_a_string_for_a_topology(cluster):
    raise AssertionError("must not run")
"""

BAD_FLOOR = """
import pytest
from harness.topology import shared_file

@pytest.mark.min_attempted(-1)
@pytest.mark.topology(shared_file(nodes=1))
def test_floor(cluster, workload):
    pass
"""


def results(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    text = (pytester.path / "out" / "results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_a_topology_marker_typo_is_an_error_line_naming_the_typo(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_typo=TYPO)
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    run.assert_outcomes(errors=2)
    run.stdout.fnmatch_lines(["*error: scenario mistake: the cluster fixture needs @pytest.mark.topology*"])
    lines = {line["scenario"].split("::")[-1]: line for line in results(pytester)}
    assert set(lines) == {"test_typo_in_the_marker[pybroker]", "test_a_string_for_a_topology[pybroker]"}
    typo = lines["test_typo_in_the_marker[pybroker]"]
    assert typo["verdict"] == "error"
    assert "is @pytest.mark.topolgy a typo of it?" in typo["reason"]
    assert typo["reason"].startswith("set-up: scenario mistake: ")
    wrong = lines["test_a_string_for_a_topology[pybroker]"]
    assert wrong["verdict"] == "error"
    assert "needs a Topology (e.g. shared_file(2), jdbc(2)), not 'shared_file'" in wrong["reason"]
    # One line, not a traceback.
    assert "Traceback" not in run.stdout.str() and "def topology" not in run.stdout.str()


def test_a_negative_floor_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_floor=BAD_FLOOR)
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    assert run.ret != 0
    run.stderr.fnmatch_lines(["*test_floor*min_attempted(n) needs a whole number >= 0, not -1*"])


MEASURED = """
def test_measures(vendor_name, figures):
    figures["bridge_notice_s"] = 31.5
    figures["bridge_recovery_s"] = None
"""


def test_figures_a_scenario_measures_go_into_its_result_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_measured=MEASURED)
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1)
    [line] = results(pytester)
    assert line["figures"] == {"bridge_notice_s": 31.5, "bridge_recovery_s": None}


IDLE_CHAOS = """
from harness.chaos.exercise import Exercise


class ChaosOnAnIdleCluster:
    def exercise(self):
        return Exercise(started=4, idle=(1, 2, 3))

    def describe(self):
        return self.exercise().to_json()


def test_idle_chaos(vendor_name, _scenario_record):
    _scenario_record.chaos = ChaosOnAnIdleCluster()
"""


def test_a_chaos_run_whose_faults_hit_no_serving_cluster_is_an_error_not_a_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_idle_chaos=IDLE_CHAOS)
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    run.stdout.fnmatch_lines(["*error: chaos: only 1 of 4 started faults hit a serving cluster*"])
    [line] = results(pytester)
    assert line["verdict"] == "error"
    assert line["reason"].startswith("chaos: only 1 of 4 started faults")
    assert line["chaos"]["faults_on_idle_cluster"] == [1, 2, 3]
