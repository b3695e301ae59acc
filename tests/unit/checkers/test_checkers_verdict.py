from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from checker_histories import HistoryBuilder, healthy

from harness.checkers import SplitBrainResult, Verdict, check_all, standard_checkers
from harness.history import History, Op
from harness.report.results import FIGURE_KEYS


def chaotic() -> HistoryBuilder:
    """A run with a fault, a failover, a recovered info send, a duplicate, probes and a drain."""
    b = HistoryBuilder(step_ms=2.0)
    b.probe(1, {"node1": True, "node2": False})
    b.sends("p1", range(3), node="node1")
    b.receives("p1", range(3), node="node1")
    b.fault(1, "kill", "node1")
    b.send("p1#3", "info")
    b.probe(2, {"node1": False, "node2": False})
    b.send("p1#4", node="node2")
    b.probe(3, {"node1": False, "node2": True})
    b.receive("p1#2", node="node2", redelivered=True)
    b.receive("p1#3", node="node2")
    b.receive("p1#4", node="node2")
    b.ack("p1#4", node="node2")
    b.heal(1, "kill", "node1")
    b.receive("p1#3", node="node2", drain=True, redelivered=True)  # its ACK never came: may come again
    return b


def test_healthy_run_without_faults() -> None:
    verdict = check_all(healthy(4).history())
    assert verdict.valid
    assert set(verdict.figures()) >= set(FIGURE_KEYS)
    figures = verdict.figures()
    assert (figures["attempted"], figures["acknowledged"], figures["received"]) == (4, 4, 4)
    assert figures["failover_ms"] == []
    assert figures["split_brain"] is False
    assert verdict.problems == []
    assert verdict.summary().startswith("VALID: 4 sends attempted, 4 receipted, 4 received; 0 lost")


def test_chaotic_but_correct_run() -> None:
    verdict = check_all(chaotic().ops, groups={"g1": ["node1", "node2"]}, bound_ms=100.0)
    assert verdict.valid, verdict.summary()
    figures = verdict.figures()
    assert figures["attempted"] == 5
    assert figures["acknowledged"] == 4
    assert figures["received"] == 5
    assert figures["recovered"] == 1
    assert figures["duplicated"] == 2
    assert figures["failover_ms"] == [12.0]  # fault at 22 ms, p1#4 invoked at 32 and receipted at 34 ms
    assert verdict.result("split-brain", SplitBrainResult).masterless_rounds == 1
    assert not verdict.split_brain
    # Duplicates fail only where exactly-once is demanded.
    strict = check_all(chaotic().ops, exactly_once=True)
    assert not strict.valid
    assert strict.summary().startswith("INVALID (total-queue failed)")
    assert any(p.startswith("[total-queue] duplicate p1#2: expected one delivery, saw 2") for p in strict.problems)


def test_broken_run_lists_every_failing_checker() -> None:
    b = chaotic()
    b.send("p1#5", node="node1")  # confirmed by the old master after node2 took over: split brain
    b.send("p1#6", node="node2")
    b.receive("p1#6", node="node2")
    b.receive("p1#5", node="node2")  # reordered; p1#5 was never lost, but came late
    b.send("p1#7", node="node2")  # lost
    verdict = check_all(b.ops, groups={"g1": ["node1", "node2"]}, bound_ms=5.0)
    assert not verdict.valid
    assert verdict.summary().startswith("INVALID (total-queue, ordering, failover, split-brain failed)")
    figures = verdict.figures()
    assert figures["lost"] == 1
    assert figures["reordered"] == 1
    assert figures["split_brain"] is True
    text = verdict.summary()
    assert "[total-queue] lost p1#7" in text
    assert "[ordering] consumer 1, producer p1: jump forward 1 from p1#4 to p1#6" in text
    assert "[failover] fault 1 (kill node1) started at 22.0 ms: expected failover within 5.0 ms" in text
    assert "[split-brain] group g1: expected one master at a time, saw node1 and node2" in text


def test_ordering_scope_passes_through() -> None:
    b = HistoryBuilder()
    for seq in range(3):
        b.send(f"p1#{seq}", group="A")
    b.receive("p1#0", consumer=1, group="A")
    b.receive("p1#2", consumer=2, group="A")
    b.receive("p1#1", consumer=1, group="A")
    assert check_all(b.ops).valid
    assert not check_all(b.ops, ordering_scope="group").valid


def test_saved_and_reloaded_history_gives_the_same_verdict(tmp_path: Path) -> None:
    b = chaotic()
    b.send("p1#5")
    b.receive("p9#1")
    history = b.history()
    path = history.save(tmp_path / "history.jsonl")
    reloaded = History.load(path)
    kwargs = {"groups": {"g1": ["node1", "node2"]}, "bound_ms": 5.0}
    before: Verdict = check_all(history, **kwargs)  # type: ignore[arg-type]
    after: Verdict = check_all(reloaded, **kwargs)  # type: ignore[arg-type]
    assert not before.valid
    assert after == before
    assert after.summary() == before.summary()
    assert json.dumps(after.to_dict(), sort_keys=True) == json.dumps(before.to_dict(), sort_keys=True)


def test_to_dict_is_json_serialisable() -> None:
    data = check_all(chaotic().ops).to_dict()
    text = json.dumps(data)
    assert set(data) == {"valid", "figures", "checks"}
    assert list(data["checks"]) == list(standard_checkers())
    assert '"p1#2": 2' in text


@dataclass(frozen=True)
class _Stuck:
    """A stand-in for a checker another part of the project adds: one entry, its own figure."""

    valid: bool
    problems: list[str]

    def summary(self) -> str:
        return f"stuck {'valid' if self.valid else 'INVALID'}"

    def figures(self) -> dict[str, Any]:
        return {"stuck": len(self.problems)}


def _stuck(ops: Sequence[Op]) -> _Stuck:
    undelivered = [op for op in ops if op.f == "send" and op.type == "ok"][-1:]
    return _Stuck(valid=not undelivered, problems=[f"{op.key} stuck" for op in undelivered])


def test_a_new_checker_is_one_entry() -> None:
    b = healthy(2)
    b.send("p1#2")
    verdict = check_all(b.ops, {**standard_checkers(), "stuck": _stuck})
    assert not verdict.valid
    assert verdict.summary().startswith("INVALID (total-queue, stuck failed)")
    assert verdict.stuck == 1  # figures read as attributes, whichever checker gave them
    assert verdict.lost == 1
    assert "[stuck] p1#2 stuck" in verdict.problems
    assert list(verdict.to_dict()["checks"])[-1] == "stuck"


def test_checkers_can_be_left_out_and_options_go_to_the_standard_set() -> None:
    b = healthy(2)
    b.receive("p1#0", node="node2")  # after its receipted ACK
    only = check_all(b.ops, {"total-queue": standard_checkers()["total-queue"]})
    assert only.valid
    assert list(only.results) == ["total-queue"]
    assert not check_all(b.ops).valid
    assert check_all(b.ops, acks_durable=False).valid
    with pytest.raises(TypeError, match="configure the standard checkers"):
        check_all(b.ops, {"stuck": _stuck}, exactly_once=True)


def test_unknown_figures_and_checkers_are_named_in_the_error() -> None:
    verdict = check_all(healthy(1).ops)
    with pytest.raises(AttributeError, match=r"no figure 'stranded_twice'.*lost, stranded"):
        verdict.stranded_twice  # noqa: B018
    with pytest.raises(KeyError, match="no checker named 'stuck'"):
        verdict["stuck"]
    with pytest.raises(TypeError, match="returned a TotalQueueResult, not a SplitBrainResult"):
        verdict.result("total-queue", SplitBrainResult)


def test_two_checkers_claiming_one_figure_is_an_error() -> None:
    class _Clash(_Stuck):
        def figures(self) -> dict[str, Any]:
            return {"lost": 0}

    verdict = check_all(healthy(1).ops, {**standard_checkers(), "clash": lambda ops: _Clash(True, [])})
    with pytest.raises(ValueError, match="figure 'lost' is reported by both 'total-queue' and 'clash'"):
        verdict.figures()


def test_summary_gives_durations_as_durations_then_the_problems() -> None:
    b = chaotic()
    b.send("p1#7", node="node2")  # receipted, never delivered: lost
    verdict = check_all(b.ops, groups={"g1": ["node1", "node2"]}, bound_ms=100.0)
    lines = verdict.summary().splitlines()
    assert lines[0].startswith("INVALID (total-queue failed): 6 sends attempted")
    failover = next(line for line in lines if line.startswith("  failover "))
    # The per-fault figure and the longest outage are durations; the outage's window is said to be
    # offsets from the first operation, not passed off as a range of durations.
    assert failover.startswith("  failover valid (bound 100.0 ms): per fault 12.0 ms; longest outage ")
    assert failover.endswith("after the first operation"), failover
    assert ".." not in failover
    problems_at = lines.index("problems (2):")
    assert lines[problems_at + 2].startswith("  - [total-queue] lost p1#7")
    assert problems_at == len(lines) - 3, "the problems come last"


def test_verdict_repr_is_one_short_line() -> None:
    text = repr(check_all(chaotic().ops))
    assert "\n" not in text and len(text) < 200
    assert text.startswith("Verdict(valid=True, attempted=5, lost=0")


def test_require_passes_when_every_figure_and_the_validity_are_as_expected() -> None:
    check_all(healthy(4).history()).require(lost=0, reordered=0, split_brain=False)


def test_require_names_each_figure_that_differs_then_the_summary() -> None:
    b = healthy(3)
    b.send("p1#3", node="node1")  # receipted, never received
    verdict = check_all(b.history())
    with pytest.raises(AssertionError) as failed:
        verdict.require(lost=0, split_brain=False)
    message = str(failed.value)
    first, rest = message.split("\n", 1)
    assert first.startswith("lost = 1 (expected 0); the verdict is INVALID (total-queue")
    assert "split_brain" not in first
    assert rest == verdict.summary()


def test_require_with_valid_false_expects_a_failing_verdict() -> None:
    b = healthy(2)
    b.send("p1#2", node="node1")
    check_all(b.history()).require(lost=1, valid=False)
    with pytest.raises(AssertionError, match=r"^the verdict is VALID \(expected INVALID\)"):
        check_all(healthy(2).history()).require(valid=False)


def test_require_of_a_figure_no_checker_reports_is_a_mistake_in_the_scenario() -> None:
    with pytest.raises(TypeError, match="require: the verdict has no figure lots"):
        check_all(healthy(2).history()).require(lots=0)
