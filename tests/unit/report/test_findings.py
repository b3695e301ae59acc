"""Known findings name what they expect: the finding's failure is excused, any other is not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.checkers.split_brain import check_split_brain
from harness.checkers.verdict import RequirementFailed, Verdict
from harness.cluster import ClusterError
from harness.report.findings import check_expects, unexpected


class _Result:
    def __init__(self, valid: bool, **figures: Any) -> None:
        self.valid = valid
        self.problems: list[str] = [] if valid else ["something broke"]
        self._figures = figures

    def summary(self) -> str:
        return f"{'valid' if self.valid else 'INVALID'} {self._figures}"

    def figures(self) -> dict[str, Any]:
        return dict(self._figures)


def failure(verdict: Verdict, **required: Any) -> RequirementFailed:
    with pytest.raises(RequirementFailed) as caught:
        verdict.require(**required)
    return caught.value


LOST_AND_SPLIT = Verdict(
    {"total-queue": _Result(False, lost=3, stranded=0), "split-brain": _Result(False, split_brain=True)}
)
STRANDED = Verdict({"total-queue": _Result(False, lost=0, stranded=2), "split-brain": _Result(True, split_brain=False)})


def test_the_figures_a_finding_expects_excuse_the_failure() -> None:
    exc = failure(LOST_AND_SPLIT, lost=0, split_brain=False)
    assert unexpected(exc, ("lost", "split_brain")) == []
    assert unexpected(exc, ("total-queue", "split-brain")) == []  # the checkers' names cover them too


def test_a_failure_the_finding_does_not_name_is_not_excused() -> None:
    exc = failure(LOST_AND_SPLIT, lost=0, split_brain=False)
    missed = unexpected(exc, ("split_brain",))
    assert "lost = 3" in missed
    assert "checker total-queue failed" in missed
    assert not any("split" in m for m in missed)


def test_an_invalid_checker_is_covered_by_a_figure_of_it_that_shows_the_finding() -> None:
    # stranded is not required, yet it is why total-queue is invalid: expects=("stranded",) covers it.
    exc = failure(STRANDED, lost=0, split_brain=False)
    assert exc.figures == {} and set(exc.failed_checkers) == {"total-queue"}
    assert unexpected(exc, ("stranded",)) == []
    # ... but a figure of that checker which did not happen does not.
    assert unexpected(exc, ("lost",)) == ["checker total-queue failed"]


def test_an_unknown_name_in_expects_is_said() -> None:
    exc = failure(STRANDED, lost=0)
    missed = unexpected(exc, ("stranded", "lsot"))
    assert missed == ["expects names 'lsot', which no checker of this verdict reports"]


def test_failures_outside_a_verdict_by_kind() -> None:
    assert unexpected(ClusterError("no master within 30 s"), ("cluster",)) == []
    assert unexpected(TimeoutError("only 3 of 20 receipted"), ("lost",)) == ["a failure of kind timeout"]
    assert unexpected(AssertionError("it stays down"), ("assertion",)) == []
    assert unexpected(AssertionError("it stays down"), ("timeout",)) == ["a failure of kind assertion"]


def test_a_real_checker_failure_carries_its_figures() -> None:
    verdict = Verdict({"split-brain": check_split_brain([])})
    assert verdict.valid  # nothing happened: required split_brain=True differs
    exc = failure(verdict, split_brain=True)
    assert exc.figures == {"split_brain": False} and exc.owners["split_brain"] == "split-brain"


@pytest.mark.parametrize("bad", [None, (), "", ("lost", ""), 3])
def test_expects_must_name_something(bad: object) -> None:
    with pytest.raises(ValueError, match="known_finding needs expects="):
        check_expects(bad, "t.py::s")
    assert check_expects("lost", "t.py::s") == ("lost",)


SCENARIOS = """
import pytest
from harness.checkers.verdict import Verdict

class R:
    def __init__(self, valid, **figures):
        self.valid, self.problems, self._f = valid, [] if valid else ["broken"], figures
    def summary(self):
        return "r"
    def figures(self):
        return self._f

VERDICT = Verdict({"total-queue": R(False, lost=2, stranded=0), "split-brain": R(False, split_brain=True)})

@pytest.mark.known_finding(vendor="pybroker", expects=("lost", "split_brain"), reason="loses and splits")
def test_the_finding(vendor_name):
    VERDICT.require(lost=0, split_brain=False)

@pytest.mark.known_finding(vendor="pybroker", expects=("split_brain",), reason="splits")
def test_another_failure(vendor_name):
    VERDICT.require(lost=0, split_brain=False)

@pytest.mark.known_finding(vendor="pybroker", expects=("split_brain",), reason="splits", strict=False)
def test_a_timeout_is_not_a_split_brain(vendor_name):
    raise TimeoutError("only 3 of 20 sends receipted")
"""


def test_the_plugin_excuses_the_expected_failure_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_findings=SCENARIOS)
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    run.assert_outcomes(xfailed=1, failed=2)
    text = (pytester.path / "out" / "results.jsonl").read_text()
    lines = {json.loads(line)["scenario"].split("::")[-1]: json.loads(line) for line in text.splitlines()}
    finding = lines["test_the_finding[pybroker]"]
    assert finding["verdict"] == "fail" and finding["expected"].startswith("known finding (expects lost, split_brain)")
    other = lines["test_another_failure[pybroker]"]
    assert other["verdict"] == "fail"
    assert other["reason"].startswith("not the known finding (it expects split_brain; also failed: lost = 2; ")
    timeout = lines["test_a_timeout_is_not_a_split_brain[pybroker]"]
    assert "also failed: a failure of kind timeout" in timeout["reason"]


def test_a_known_finding_without_expects_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bare="""
import pytest

@pytest.mark.known_finding(vendor="pybroker", reason="loses messages")
def test_bare(vendor_name):
    pass
"""
    )
    run = pytester.runpytest_subprocess("--results-dir", "out", "-p", "no:cacheprovider")
    assert run.ret != 0
    run.stderr.fnmatch_lines(["*test_bare*known_finding needs expects=*"])
