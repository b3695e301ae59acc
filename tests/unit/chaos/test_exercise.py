"""A chaos run whose faults came while the cluster was still down showed nothing: it must not pass."""

from __future__ import annotations

from harness.chaos.executor import ExecutedFault
from harness.chaos.exercise import exercised_faults
from harness.history import FAULT_START, NEMESIS, SEND, History, MessageKey

S = 10**9


def run(serving: list[tuple[float, float]], fault_starts: list[float], length_s: float = 60.0) -> History:
    """Receipted sends every 0.1 s while the cluster serves (``serving``: from, to in s), the faults'
    start records at their times, in time order."""
    events: list[tuple[float, str]] = []
    t = 0.0
    while t < length_s:
        if any(begin <= t < end for begin, end in serving):
            events.append((t, "send"))
        t = round(t + 0.1, 1)
    events += [(at, "fault") for at in fault_starts]
    now = [0]
    history = History(clock=lambda: now[0])
    for seq, (at, what) in enumerate(sorted(events)):
        now[0] = round(at * S)
        if what == "send":
            history.record(1, "ok", SEND, MessageKey("p1", seq), node="amq1")
        else:
            history.record(NEMESIS, "info", FAULT_START, {"fault": "kill"}, node="amq1")
    return history


def started(*at: float) -> list[ExecutedFault]:
    return [ExecutedFault(i, "kill", s, on="amq1", started_at_s=s) for i, s in enumerate(at)]


def test_faults_that_hit_a_serving_cluster_are_exercised() -> None:
    history = run([(0, 60)], [10, 20, 30])
    exercise = exercised_faults(history.ops(), 0, started(10, 20, 30))
    assert (exercise.started, exercise.exercised, exercise.idle) == (3, 3, ())
    assert exercise.insufficient() is None


def test_faults_faster_than_the_cluster_recovers_make_the_run_insufficient() -> None:
    # Serving for the first 10 s only: every later fault lands on a cluster still down from the first.
    history = run([(0, 10.5)], [10, 17, 24, 31, 38])
    exercise = exercised_faults(history.ops(), 0, started(10, 17, 24, 31, 38))
    assert exercise.idle == (1, 2, 3, 4)
    reason = exercise.insufficient()
    assert reason is not None
    assert "only 1 of 5 started faults hit a serving cluster" in reason and "#1, #2, #3, #4" in reason


def test_a_cluster_that_recovers_between_faults_is_exercised_even_with_some_faults_on_it_down() -> None:
    history = run([(0, 10), (14, 20), (25, 60)], [10, 12, 20, 30])
    exercise = exercised_faults(history.ops(), 0, started(10, 12, 20, 30))
    assert exercise.idle == (1,)  # 2 s after the outage began, nothing receipted
    assert exercise.insufficient() is None


def test_skipped_faults_do_not_count_and_a_run_with_none_started_is_insufficient() -> None:
    history = run([(0, 60)], [])
    skipped = [ExecutedFault(0, "kill", 10, skipped="no master")]
    exercise = exercised_faults(history.ops(), 0, skipped)
    assert exercise.started == 0
    assert "no fault of the schedule started" in str(exercise.insufficient())


def test_fault_times_are_counted_from_the_run_start() -> None:
    history = run([(100, 160)], [], length_s=160)
    assert exercised_faults(history.ops(), 100 * S, started(5)).idle == ()
    assert exercised_faults(history.ops(), 0, started(5)).idle == (0,)  # 5 s into the history: nothing served yet
