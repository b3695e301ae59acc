"""The streamed history of a soak: bounded in memory, readable after a crash, checked as the in-memory one."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

import pytest

from harness.checkers import run_checkers, standard_checkers
from harness.history import RECEIVE, SEND, History, MessageKey, Op
from harness.history_stream import StreamedHistory, load_prefix
from tests.unit.checkers.checker_histories import HistoryBuilder, healthy


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record_messages(history: History, count: int) -> None:
    """``count`` messages as the workload records them: send invoke and ok, delivery, ack."""
    for seq in range(count):
        key = MessageKey("p0", seq)
        history.record(0, "invoke", SEND, key, destination="/queue/soak")
        history.record(0, "ok", SEND, key, node="amq1")
        history.record(1, "ok", RECEIVE, key, node="amq1", redelivered=False, message_id=f"ID:{seq}")


def test_a_streamed_history_holds_at_most_a_flush_of_records_however_many_are_made(tmp_path: Path) -> None:
    streamed = StreamedHistory(tmp_path / "h.jsonl", flush_records=100, monotonic=FakeMonotonic())
    most = 0
    for seq in range(20_000):
        streamed.record(0, "ok", SEND, MessageKey("p0", seq), node="amq1")
        most = max(most, streamed.unwritten)
    assert most <= 100
    assert len(streamed) == 20_000
    assert streamed._ops == []  # the in-memory list of History is never filled
    written = (tmp_path / "h.jsonl").read_bytes().count(b"\n")
    assert written == 20_000 - streamed.unwritten


def test_recording_a_long_run_grows_memory_in_memory_and_not_streamed(tmp_path: Path) -> None:
    def grown(history: History) -> int:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            record_messages(history, 5_000)
            return tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

    in_memory = grown(History())
    streamed = grown(StreamedHistory(tmp_path / "h.jsonl", flush_records=100))
    assert in_memory > 2_000_000  # 15,000 ops of a few hundred bytes each
    assert streamed < in_memory / 20


def test_records_are_written_once_the_flush_interval_passes(tmp_path: Path) -> None:
    clock = FakeMonotonic()
    streamed = StreamedHistory(tmp_path / "h.jsonl", flush_records=1000, flush_interval_s=1.0, monotonic=clock)
    streamed.record(0, "ok", SEND, MessageKey("p0", 0))
    assert streamed.unwritten == 1
    clock.now = 1.5
    streamed.record(0, "ok", SEND, MessageKey("p0", 1))
    assert streamed.unwritten == 0
    assert len(load_prefix(tmp_path / "h.jsonl")) == 2


def test_a_crash_leaves_every_flushed_record_readable_and_a_torn_last_line_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    streamed = StreamedHistory(path, flush_records=100, monotonic=FakeMonotonic())
    record_messages(streamed, 84)  # 252 records: 200 written, 52 still in memory when the process dies
    with path.open("a", encoding="utf-8") as out:
        out.write('{"f": "send", "index": 200, "pro')  # a record cut short by the crash
    crashed = load_prefix(path)
    assert [op.index for op in crashed] == list(range(200))
    fourth = crashed.ops()[3]
    assert fourth == Op(3, 0, "invoke", SEND, MessageKey("p0", 1), fourth.time_ns, None, {"destination": "/queue/soak"})
    with pytest.raises(ValueError, match=r"h\.jsonl:201"):
        History.load(path)  # the loader of saved histories refuses the torn record


def test_a_streamed_history_reads_back_what_was_recorded_and_saving_moves_its_file(tmp_path: Path) -> None:
    clock = itertools.count(0, 1000)
    in_memory = History(clock=lambda: next(clock))
    clock2 = itertools.count(0, 1000)
    streamed = StreamedHistory(tmp_path / "live.jsonl", clock=lambda: next(clock2), flush_records=7)
    record_messages(in_memory, 40)
    record_messages(streamed, 40)
    assert streamed.ops() == in_memory.ops()
    assert list(streamed) == in_memory.ops()
    saved = streamed.save(tmp_path / "histories" / "run.jsonl")
    assert not (tmp_path / "live.jsonl").exists()
    streamed.record(0, "ok", SEND, MessageKey("p0", 40))  # a heal recorded after the save still counts
    streamed.close()
    assert History.load(saved).ops()[-1].value == MessageKey("p0", 40)
    assert len(streamed) == len(History.load(saved)) == 121


def test_records_made_after_closing_are_refused(tmp_path: Path) -> None:
    streamed = StreamedHistory(tmp_path / "h.jsonl")
    streamed.close()
    streamed.record(0, "ok", SEND, MessageKey("p0", 0))
    with pytest.raises(ValueError, match="after it was closed"):
        streamed.flush()


def replayed(builder: HistoryBuilder, into: History) -> History:
    for op in builder.ops:
        into._clock = lambda t=op.time_ns: t  # type: ignore[misc]  # each op keeps the builder's time
        into.record(op.process, op.type, op.f, op.value, op.node, **op.meta)
    return into


def broken() -> HistoryBuilder:
    """Two masters confirming at once, a receipted message never delivered, one delivered out of order."""
    b = healthy(10)
    b.fault(1, "kill", "node1")
    b.probe(1, {"node1": True, "node2": True})
    b.sends("p2", range(3), node="node2")
    b.receive("p2#2", node="node2")
    b.receive("p2#1", node="node2")
    b.heal(1, "kill", "node1")
    return b


@pytest.mark.parametrize(("builder", "valid"), [(healthy(30), True), (broken(), False)], ids=["healthy", "broken"])
def test_checkers_give_the_same_verdict_on_a_streamed_history_as_on_the_in_memory_one(
    builder: HistoryBuilder, valid: bool, tmp_path: Path
) -> None:
    checkers = standard_checkers(groups={"g1": ["node1", "node2"]})
    in_memory = run_checkers(replayed(builder, History()).ops(), checkers)
    streamed = run_checkers(replayed(builder, StreamedHistory(tmp_path / "h.jsonl", flush_records=5)).ops(), checkers)
    assert streamed.problems == in_memory.problems
    assert streamed.figures() == in_memory.figures()
    assert streamed.summary() == in_memory.summary()
    assert streamed.valid == in_memory.valid == valid
