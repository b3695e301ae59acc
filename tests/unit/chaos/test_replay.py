"""Shrinking keeps the failure it started from: a candidate counts only if one of the checkers that
failed originally fails again; the replay command names the scenario, its options and the schedule."""

from __future__ import annotations

from pathlib import Path

from harness.chaos.replay import failed_checkers, fails_the_same_way, replay_command

LOST = "[total-queue] 6 acknowledged message(s) lost"
TWO_MASTERS = "[split-brain] group ms-broker-a: expected at most one node accepting clients"


def test_failed_checkers_are_read_from_the_problems() -> None:
    assert failed_checkers([LOST, TWO_MASTERS, "no prefix"]) == {"total-queue", "split-brain"}


def test_a_candidate_fails_the_same_way_only_with_an_original_checker_failing() -> None:
    assert fails_the_same_way({"verdict": "fail", "problems": [LOST]}, {"total-queue"})
    assert not fails_the_same_way({"verdict": "fail", "problems": [TWO_MASTERS]}, {"total-queue"})
    assert fails_the_same_way({"verdict": "fail", "problems": [TWO_MASTERS]}, set())
    assert not fails_the_same_way({"verdict": "error", "problems": [LOST]}, {"total-queue"})
    assert not fails_the_same_way({"verdict": "pass", "problems": []}, set())


def test_the_replay_command_names_the_scenario_and_the_schedule() -> None:
    command = replay_command("suites/chaos/t.py::test_x[activemq]", Path("/r/smallest.json"), ["--vendor", "activemq"])
    assert command == "pytest 'suites/chaos/t.py::test_x[activemq]' --vendor activemq --chaos-schedule /r/smallest.json"
