"""Verdict classification: fail only when the system under test broke a promise, error otherwise."""

from __future__ import annotations

import re

import pytest

from harness.client.errors import ConnectionLost
from harness.cluster import ClusterError
from harness.errors import InvalidOption, UnknownName, require_non_negative
from harness.report.outcome import DEFAULT_MIN_ATTEMPTED, classify_exception, one_line, vacuous
from harness.workload import WorkloadOptions


def raised(exc: BaseException) -> BaseException:
    """The exception with a traceback from this file, as the scenario's frame would give it."""
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    "exc",
    [
        AssertionError("lost 3"),
        ClusterError("group g: no single master within 30 s"),
        TimeoutError("only 3 of 20 sends receipted within 60 s"),
        ConnectionLost("connection to 127.0.0.1:61613 lost"),
    ],
)
def test_a_broken_promise_is_fail(exc: BaseException) -> None:
    outcome = classify_exception(raised(exc))
    assert outcome.verdict == "fail", outcome
    assert outcome.reason == str(exc)


def test_an_unknown_node_is_an_error_naming_it_and_the_known_ones() -> None:
    outcome = classify_exception(raised(UnknownName("node", "amq9", ["amq2", "amq1"])))
    assert outcome.verdict == "error"
    assert outcome.reason is not None
    assert outcome.reason.startswith("scenario mistake: unknown node `amq9`; known nodes amq1, amq2 (at ")
    assert "test_outcome.py:" in outcome.reason


@pytest.mark.parametrize(
    ("exc", "prefix"),
    [
        (
            TypeError("running() got an unexpected keyword argument 'producer'"),
            "scenario or harness mistake: TypeError",
        ),
        (AttributeError("'str' object has no attribute 'name'"), "scenario or harness mistake: AttributeError"),
        (KeyError("amq9"), "scenario or harness mistake: KeyError"),
        (OSError(28, "No space left on device"), "environment: OSError"),
        (RuntimeError("faults did not heal: kill amq1"), "harness error: RuntimeError"),
    ],
)
def test_mistakes_and_the_environment_are_errors_not_failures(exc: BaseException, prefix: str) -> None:
    outcome = classify_exception(raised(exc))
    assert outcome.verdict == "error"
    assert outcome.reason is not None and outcome.reason.startswith(prefix), outcome.reason
    assert "\n" not in outcome.reason


def test_a_caller_can_add_failure_types() -> None:
    class ScenarioFailed(Exception):
        pass

    assert classify_exception(raised(ScenarioFailed("x"))).verdict == "error"
    assert classify_exception(raised(ScenarioFailed("x")), (ScenarioFailed,)).verdict == "fail"


def test_a_run_below_the_floor_is_vacuous() -> None:
    outcome = vacuous(6, DEFAULT_MIN_ATTEMPTED)
    assert outcome is not None and outcome.verdict == "error"
    assert outcome.reason is not None
    assert outcome.reason.startswith(
        f"vacuous: the workload attempted 6 sends, fewer than the floor of {DEFAULT_MIN_ATTEMPTED}"
    )
    assert vacuous(DEFAULT_MIN_ATTEMPTED, DEFAULT_MIN_ATTEMPTED) is None
    assert vacuous(0, 0) is None


def test_one_line_keeps_the_first_line_and_cuts_it() -> None:
    assert one_line("first\nsecond") == "first"
    assert one_line("x" * 400, limit=20) == "x" * 17 + "..."
    assert one_line("") == ""


def test_negative_option_values_are_refused_with_the_option_named() -> None:
    with pytest.raises(InvalidOption, match=r"^workload.check: failover_bound_ms must be zero or more, not -1$"):
        require_non_negative("workload.check", failover_bound_ms=-1)
    with pytest.raises(InvalidOption, match=r"must be a number, not 'fast'"):
        require_non_negative("workload", rate_per_producer="fast")  # type: ignore[arg-type]
    require_non_negative("workload.check", failover_bound_ms=None, master_timeout=0)


def test_workload_options_are_validated() -> None:
    with pytest.raises(InvalidOption, match="workload: rate_per_producer must be zero or more, not -5"):
        WorkloadOptions(rate_per_producer=-5)
    destination = re.escape("destination must be a /queue/... or /topic/... name, not 'orders'")
    with pytest.raises(InvalidOption, match=destination):
        WorkloadOptions(destination="orders")
    unknown = r"unknown workload.running option `producer` \(did you mean `producers`\?\); known .*producers"
    with pytest.raises(UnknownName, match=unknown):
        WorkloadOptions().with_overrides("workload.running", {"producer": 2})
    assert WorkloadOptions().with_overrides("workload.running", {"groups": 4}).groups == 4
