from pathlib import Path

import pytest

from harness.history import ACK, RECEIVE, SEND, History, MessageKey, Op, completions


def test_records_are_indexed_in_order_and_timed():
    ticks = iter(range(100, 200))
    history = History(clock=lambda: next(ticks))
    a = history.record(0, "invoke", SEND, MessageKey("p0", 0))
    b = history.record(0, "ok", SEND, MessageKey("p0", 0), node="amq1")
    assert (a.index, b.index) == (0, 1)
    assert (a.time_ns, b.time_ns) == (100, 101)
    assert len(history) == 2


def test_save_and_load_round_trip(tmp_path: Path):
    history = History()
    history.record(0, "invoke", SEND, MessageKey("p0", 7))
    history.record(0, "info", SEND, MessageKey("p0", 7), error="SendTimeout")
    history.record("nemesis", "info", "start", {"fault": "kill", "target": "amq1", "fault_id": 0}, node="amq1")
    history.record(1, "ok", RECEIVE, MessageKey("p0", 7), node="amq2", redelivered=True)
    loaded = History.load(history.save(tmp_path / "h.jsonl"))
    assert loaded.ops() == history.ops()
    assert loaded.ops()[3].key == MessageKey("p0", 7)
    assert loaded.ops()[3].meta == {"redelivered": True}


def test_load_names_the_bad_line(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"index": 0, "process": 0, "type": "maybe", "f": "send", "time_ns": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: .*unknown type 'maybe'"):
        History.load(path)


def test_completions_pair_by_process_and_operation():
    key = MessageKey("p0", 1)
    ops = [
        Op(0, 1, "invoke", ACK, key, 0),
        Op(1, 1, "ok", RECEIVE, MessageKey("p0", 2), 1),  # a delivery between an ack and its reply
        Op(2, 1, "ok", ACK, key, 2),
        Op(3, 0, "invoke", SEND, key, 3),
    ]
    assert {k: v.index for k, v in completions(ops).items()} == {0: 2}


def test_key_of_a_non_message_op_is_an_error():
    op = Op(0, "nemesis", "info", "start", {"fault": "kill"}, 0)
    with pytest.raises(TypeError, match="carries no message key"):
        _ = op.key
