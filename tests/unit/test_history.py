import json
from pathlib import Path

import pytest

import harness.history as history_module
from harness.history import ACK, EMPTY_META, RECEIVE, SEND, History, MessageKey, Op, completions, read_ops


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


SAMPLE = [
    {
        "index": 0,
        "process": 4,
        "type": "ok",
        "f": "subscribed",
        "time_ns": 5,
        "node": "amq1",
        "value": {"destination": "/queue/q", "exclusive": False, "cause": "subscribe"},
    },
    {
        "index": 1,
        "process": 0,
        "type": "invoke",
        "f": "send",
        "time_ns": 7,
        "node": None,
        "value": ["p0", 1],
        "meta": {"destination": "/queue/q", "group": "g1"},
    },
    {"index": 2, "process": 0, "type": "ok", "f": "send", "time_ns": 9, "node": "amq1", "value": ["p0", "1"]},
    {
        "index": 3,
        "process": "nemesis",
        "type": "info",
        "f": "start",
        "time_ns": 11.0,
        "node": "amq1",
        "value": {"fault": "kill", "target": "amq1", "fault_id": 1},
    },
    {
        "index": "4",
        "process": 4,
        "type": "ok",
        "f": "receive",
        "time_ns": 12,
        "node": "amq2",
        "value": ["p0", 1],
        "meta": {"redelivered": True, "message_id": "ID:1", "group": "g1", "destination": "/queue/q", "drain": True},
    },
    {"index": 5, "process": 4, "type": "invoke", "f": "ack", "time_ns": 13, "value": ["p0", 1], "meta": None},
    {"index": 6, "process": 4, "type": "fail", "f": "ack", "time_ns": 14, "value": ["p0", 1], "meta": {}},
    {
        "index": 7,
        "process": "probe",
        "type": "ok",
        "f": "probe",
        "time_ns": 15,
        "node": "amq2",
        "value": {"round": 0, "accepting": True, "group": "pair", "latency": 0.25},
    },
    {"index": 8, "process": 1, "type": "ok", "f": "custom", "time_ns": 16, "value": [1, 2, 3]},
    {
        "index": 9,
        "process": 0,
        "type": "invoke",
        "f": "send",
        "time_ns": 17,
        "node": None,
        "value": ["p0", 2],
        "meta": {"destination": "/queue/q", "group": "g1"},
    },
    {
        "index": 10,
        "process": 0,
        "type": "invoke",
        "f": "send",
        "time_ns": 18,
        "node": None,
        "value": ["p0", 3],
        "meta": {"destination": "/queue/q", "group": ["not", "hashable"]},
    },
]


def _sample_lines() -> list[bytes]:
    lines = [json.dumps(record).encode() + b"\n" for record in SAMPLE]
    lines.insert(3, b"   \n")  # blank lines are skipped
    return lines


@pytest.mark.parametrize("parser", ["typed", "orjson", "json"])
def test_loader_reads_what_op_from_json_reads(parser: str, monkeypatch: pytest.MonkeyPatch):
    # Without the library the loader falls back silently: the case would test the fallback, not it.
    if parser == "typed":
        pytest.importorskip("msgspec")
    if parser == "orjson":
        pytest.importorskip("orjson")
    if parser != "typed":  # every line parsed as any JSON: an environment installed before msgspec ...
        monkeypatch.setattr(history_module, "_decode", None)
    if parser == "json":  # ... or before orjson was a dependency
        monkeypatch.setattr(history_module, "_loads", json.loads)
        monkeypatch.setattr(history_module, "_DecodeError", json.JSONDecodeError)
    expected = [Op.from_json(record) for record in SAMPLE]
    loaded = read_ops(_sample_lines())
    assert loaded == expected
    assert [type(op.value) for op in loaded] == [type(op.value) for op in expected]
    assert [type(op.index) for op in loaded] == [int] * len(SAMPLE)
    assert [type(op.time_ns) for op in loaded] == [int] * len(SAMPLE)


# Records of shapes the typed decoder refuses or reads otherwise, each read as Op.from_json reads it.
ODD_RECORDS = [
    {"index": 0, "process": 0, "type": "invoke", "f": "send", "time_ns": 1, "value": ["p0", 1]},
    {"index": 1.0, "process": 0, "type": "ok", "f": "send", "time_ns": 2, "value": ["p0", 1], "node": "amq1"},
    {"index": 2, "process": 3, "type": "ok", "f": "receive", "time_ns": 3, "value": ["p0", 1.0], "node": "amq1"},
    {"index": 3, "process": [3], "type": "ok", "f": "ack", "time_ns": 4, "value": ["p0", True]},
    {"index": 4, "process": 1, "type": "ok", "f": "custom", "time_ns": 5, "value": ["p0", 1]},
    {"index": 5, "process": 1, "type": "ok", "f": "custom", "time_ns": 6, "value": ["p0", 1, 2]},
    {"index": 6, "process": 1, "type": "ok", "f": 7, "time_ns": 7, "value": "text", "node": 2},
    {"index": 7, "process": 1.5, "type": "ok", "f": "custom", "time_ns": "8", "meta": [["group", "g1"]]},
]


def test_loader_reads_records_of_other_shapes_as_op_from_json_does():
    lines = [json.dumps(record).encode() + b"\n" for record in ODD_RECORDS]
    loaded = read_ops(lines)
    expected = [Op.from_json(record) for record in ODD_RECORDS]
    assert loaded == expected
    assert [type(op.value) for op in loaded] == [type(op.value) for op in expected]
    assert [type(op.index) for op in loaded] == [int] * len(ODD_RECORDS)
    assert loaded[0].value is loaded[1].value is loaded[2].value is loaded[3].value  # one key, however read
    assert type(loaded[4].value) is list  # a custom op's [str, int] is not a message key


def test_loader_shares_keys_names_and_empty_metas():
    ops = read_ops(_sample_lines())
    send, sent, delivery, ack = ops[1], ops[2], ops[4], ops[5]
    assert send.value is sent.value is delivery.value is ack.value  # one key per message
    assert sent.node is ops[0].node  # one string per node name
    assert sent.meta is ack.meta is EMPTY_META
    assert delivery.meta["group"] is send.meta["group"]
    assert ops[9].meta is send.meta  # a meta without entries of its own (message-ids) is shared
    with pytest.raises(TypeError):
        ops[9].meta["group"] = "g2"  # type: ignore[index]  # and read-only
    assert ops[10].meta == SAMPLE[10]["meta"]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'["not", "a", "record"]\n', r"h.jsonl:2: not a history record"),
        (b'{"index": 1, "process": 0, "type": "ok", "f": "send"}\n', r"h.jsonl:2: .*time_ns"),
        (b'{"index": 1, "process": 0, "type": "ok", "f": "send", "time_ns": 2, "value": ["p0"]}\n', r"h.jsonl:2: "),
        (b'{"index": 1, "process": 0, "type": "ok", "f": "send", "time_ns": "soon"}\n', r"h.jsonl:2: "),
        (b"{not json\n", r"h.jsonl:2: not a history record"),
    ],
)
def test_loader_names_the_line_of_a_bad_record(line: bytes, error: str):
    with pytest.raises(ValueError, match=error):
        read_ops([_sample_lines()[0], line], "h.jsonl")
