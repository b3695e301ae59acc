"""The pytest plugin as a user meets it: options, seed, one result line per scenario, verdicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration

UNSUPPORTED = """
import pytest
from harness.topology.model import MasterSlaveGroup, Topology

LEVELDB = Topology("replicated", (MasterSlaveGroup("g", ("a", "b", "c"), store="replicated-leveldb"),))

@pytest.mark.topology(LEVELDB)
def test_replicated(cluster):
    raise AssertionError("must not run")
"""

FAILING = """
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=1))
def test_deliberately_wrong_expectation(cluster, workload):
    workload.produce(5)
    result = workload.check()
    assert result.lost == 1, "this scenario expects a loss that a healthy broker does not have"
"""

KNOWN_FINDING = """
import pytest
from harness.topology import shared_file

@pytest.mark.known_finding(vendor="pybroker", expects=("assertion",), reason="demonstration of an expected finding")
@pytest.mark.topology(shared_file(nodes=1))
def test_expected_to_fail(cluster, workload):
    workload.produce(3)
    assert workload.check().lost == 0
"""

DIFFERENCE = """
import pytest
from harness.topology import shared_file

@pytest.mark.differs_on_purpose(vendor="pybroker", reason="demonstration of a declared difference")
@pytest.mark.topology(shared_file(nodes=1))
def test_declared_difference(stomp, differs):
    conn = stomp.connect("1.1")
    assert differs and conn.version == "1.1"
    assert conn.send("/queue/demo", "hello").command == "RECEIPT"
"""


def results(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    text = (pytester.path / "out" / "results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_unsupported_topology_is_reported_not_passed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unsupported=UNSUPPORTED)
    run = pytester.runpytest("--results-dir", "out", "--seed", "42", "-rs")
    run.assert_outcomes(skipped=1)
    run.stdout.fnmatch_lines(["*seed 42 (replay with --seed 42)*", "*unsupported: pybroker*replicated-leveldb*"])
    [line] = results(pytester)
    assert line["verdict"] == "unsupported"
    assert "replicated-leveldb" in line["reason"]
    assert line["seed"] == 42 and line["vendor"] == "pybroker"


def test_a_failing_scenario_is_recorded_as_fail_with_its_figures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_failing=FAILING)
    run = pytester.runpytest("--results-dir", "out")
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*expects a loss that a healthy broker does not have*"])
    [line] = results(pytester)
    assert line["verdict"] == "fail"
    assert line["figures"]["acknowledged"] == 5 and line["figures"]["lost"] == 0
    assert line["topology"]["name"] == "shared_file(1)"
    with open(line["history"]) as history:
        assert sum(1 for _ in history) >= 10


def test_a_known_finding_that_does_not_happen_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_known=KNOWN_FINDING)
    run = pytester.runpytest("--results-dir", "out")
    run.assert_outcomes(failed=1)
    [line] = results(pytester)
    assert line["verdict"] == "pass"
    assert line["expected"] == "known finding (expects assertion): demonstration of an expected finding"


def test_an_unknown_vendor_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unsupported=UNSUPPORTED)
    run = pytester.runpytest("--vendor", "rabbitmq")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["*invalid choice: 'rabbitmq'*"])


# The inner runs use this checkout's plugin, whichever checkout the pip-installed entry point names.
THIS_CHECKOUTS_PLUGIN = ("-p", "no:amq_harness", "-p", "fixtures.plugin")

NEEDS_PARTITION = """
import pytest
from harness.topology import shared_file

@pytest.mark.needs_fault("partition")
@pytest.mark.topology(shared_file(nodes=2))
def test_partition(cluster, faults):
    raise AssertionError("must not run on the local runtime")
"""


def test_a_docker_only_fault_is_unsupported_on_the_local_runtime(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_partition=NEEDS_PARTITION)
    run = pytester.runpytest(*THIS_CHECKOUTS_PLUGIN, "--results-dir", "out", "-rs")
    run.assert_outcomes(skipped=1)
    run.stdout.fnmatch_lines(["*unsupported: runtime local cannot inject 'partition' (runtimes that can: docker)*"])
    [line] = results(pytester)
    assert (line["verdict"], line["runtime"]) == ("unsupported", "local")


def test_docker_runtime_without_an_engine_says_what_to_install_or_start(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/amq-harness-no-docker.sock")
    pytester.makepyfile(test_failing=FAILING)
    run = pytester.runpytest(*THIS_CHECKOUTS_PLUGIN, "--results-dir", "out", "--runtime", "docker")
    run.assert_outcomes(errors=1)
    run.stdout.fnmatch_lines(
        [
            "*--runtime docker: the Docker engine at unix:///nonexistent/amq-harness-no-docker.sock does not answer"
            "*install Docker Engine (Debian: apt-get install -y docker.io) and start it*"
        ]
    )
    [line] = results(pytester)
    assert (line["verdict"], line["runtime"]) == ("error", "docker")


def test_a_declared_difference_is_passed_to_the_scenario_and_recorded(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_difference=DIFFERENCE)
    run = pytester.runpytest(*THIS_CHECKOUTS_PLUGIN, "--results-dir", "out")
    run.assert_outcomes(passed=1)
    [line] = results(pytester)
    assert line["verdict"] == "pass"
    assert line["difference"] == "demonstration of a declared difference"


PER_DATABASE = """
import pytest
from harness.topology import jdbc

@pytest.mark.known_finding(
    vendor="pybroker", case="mariadb", expects=("assertion",), reason="demonstration of a finding on one database"
)
@pytest.mark.parametrize("topology", [pytest.param(jdbc(2, db=db), id=db) for db in ("postgresql", "mariadb")])
def test_per_database(topology, vendor_name):
    assert topology.groups[0].jdbc.database == "postgresql", "fails on mariadb"
"""


def test_database_option_deselects_other_databases_and_a_finding_can_name_one_case(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_db=PER_DATABASE)
    everything = pytester.runpytest(*THIS_CHECKOUTS_PLUGIN, "--results-dir", "out")
    everything.assert_outcomes(passed=1, xfailed=1)  # the finding applies to the mariadb case only
    only_pg = pytester.runpytest(*THIS_CHECKOUTS_PLUGIN, "--results-dir", "out", "--database", "postgresql")
    only_pg.assert_outcomes(passed=1, deselected=1)
