"""The chaos options are checked before any cluster starts: a bad one stops the run saying what is wrong."""

from __future__ import annotations

import pytest
from amq_harness_fixtures.chaos import _DURATION, SOAK_FROM_S, soak

NOTHING = "def test_nothing():\n    pass\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chaos-duration=-5s"], "--chaos-duration: a duration must be zero or more, not '-5s'"),
        (["--chaos-duration", "soon"], "--chaos-duration: a duration such as 60, 60s, 30m or 1h"),
        (["--shrink-runs", "0"], "--shrink-runs: at least 1, not 0"),
        (["--chaos-schedule", "missing.json"], "--chaos-schedule missing.json: cannot read it"),
    ],
)
def test_bad_chaos_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(test_nothing=NOTHING)
    run = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert message in run.stderr.str()


def test_a_schedule_file_that_is_not_a_schedule_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing=NOTHING)
    pytester.path.joinpath("bad.json").write_text('{"version": 1, "topology": "t", "faults": []}')
    run = pytester.runpytest_subprocess("--chaos-schedule", "bad.json", "-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "--chaos-schedule bad.json: field 'duration_s' is missing" in run.stderr.str()


def test_good_chaos_options_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing=NOTHING)
    run = pytester.runpytest_subprocess("--chaos-duration", "30m", "--shrink", "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1)


STREAMED = """
from harness.history_stream import StreamedHistory


def test_history_kind(history):
    print("streamed" if isinstance(history, StreamedHistory) else "in memory")
"""


def test_a_soak_streams_its_history_to_disk(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_history_kind=STREAMED)
    run = pytester.runpytest_subprocess(
        "--chaos-duration", "5m", "-s", "-p", "no:cacheprovider", "--results-dir", "out"
    )
    run.assert_outcomes(passed=1)
    assert "streamed" in run.stdout.str()


class Config:
    """What ``soak`` reads of a pytest config: the options and the parsed --chaos-duration."""

    def __init__(self, duration_s: float | None, stream_history: bool = False) -> None:
        self.options = {"--stream-history": stream_history}
        self.stash = {_DURATION: duration_s} if duration_s is not None else {}

    def getoption(self, name: str) -> object:
        return self.options[name]


@pytest.mark.parametrize(
    ("duration_s", "stream_history", "streamed"),
    [
        (None, False, False),
        (60.0, False, False),
        (SOAK_FROM_S - 1, False, False),
        (SOAK_FROM_S, False, True),
        (60.0, True, True),
    ],
)
def test_histories_are_streamed_from_the_soak_duration_on_or_when_asked(
    duration_s: float | None, stream_history: bool, streamed: bool
) -> None:
    assert soak(Config(duration_s, stream_history)) is streamed  # type: ignore[arg-type]
