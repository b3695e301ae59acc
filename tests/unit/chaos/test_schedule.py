"""The schedule as data: JSON round trip, versions, clear errors for bad files and durations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.chaos import SCHEDULE_VERSION, Schedule, ScheduledFault, ScheduleError, load_schedule, parse_duration


def a_schedule() -> Schedule:
    return Schedule(
        seed=42,
        duration_s=30.0,
        topology="shared_file(2)",
        faults=(
            ScheduledFault("kill", 3.0, 2.5, "master", "ms-broker-a"),
            ScheduledFault("slow_link", 4.0, 3.0, "node", "ms-broker-a", "amq2", {"latency_ms": 200}),
            ScheduledFault("steal_lock", 9.0, 0.0, "store", "ms-broker-a"),
        ),
        vendor="activemq",
        runtime="local",
        left_out={"pause": "a known reordering"},
    )


def test_a_schedule_survives_a_json_round_trip(tmp_path: Path) -> None:
    schedule = a_schedule()
    assert Schedule.loads(schedule.dumps()) == schedule
    assert load_schedule(schedule.save(tmp_path / "s.json")) == schedule
    assert json.loads(schedule.dumps())["version"] == SCHEDULE_VERSION


def test_a_result_line_is_a_schedule_file_too(tmp_path: Path) -> None:
    line = {"scenario": "x", "chaos": {"schedule": a_schedule().to_json(), "executed": []}}
    path = tmp_path / "line.json"
    path.write_text(json.dumps(line))
    assert load_schedule(path) == a_schedule()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "a chaos schedule is a JSON object"),
        ('{"version": 99, "duration_s": 1, "topology": "t", "faults": []}', "version 99 is not supported"),
        ('{"version": 1, "topology": "t", "faults": []}', "'duration_s' is missing"),
        ('{"version": 1, "duration_s": 10, "topology": "t", "faults": [], "colour": 1}', "unknown field(s) colour"),
        ('{"version": 1, "duration_s": 10, "topology": "t", "faults": [{"kind": "kill"}]}', "faults[0]: missing"),
        (
            '{"version": 1, "duration_s": 10, "topology": "t", "faults": '
            '[{"kind": "kill", "start_s": 1, "duration_s": 1, "target": "moon"}]}',
            "target must be one of",
        ),
        (
            '{"version": 1, "duration_s": 10, "topology": "t", "faults": '
            '[{"kind": "kill", "start_s": -1, "duration_s": 1, "target": "master"}]}',
            "start_s must be a number of seconds >= 0",
        ),
        (
            '{"version": 1, "duration_s": 10, "topology": "t", "faults": '
            '[{"kind": "kill", "start_s": 8, "duration_s": 5, "target": "master"}]}',
            "ends at 13.0 s, after the schedule's 10.0 s",
        ),
    ],
)
def test_a_bad_schedule_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ScheduleError) as raised:
        load_schedule(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_a_missing_schedule_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="cannot read it"):
        load_schedule(tmp_path / "nowhere.json")


@pytest.mark.parametrize(
    ("text", "seconds"), [("60", 60.0), ("90s", 90.0), ("30m", 1800.0), ("1.5h", 5400.0), ("500ms", 0.5), (45, 45.0)]
)
def test_durations_read_with_their_units(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-5", "-5s", "5 minutes", "", "m", True, -1])
def test_negative_or_malformed_durations_are_refused(text: str | int) -> None:
    with pytest.raises(ScheduleError, match="--chaos-duration"):
        parse_duration(text)
