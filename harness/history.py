"""The history: one record per operation, the only interface between workload, faults and checkers.

A record is Jepsen-shaped: an ``invoke`` followed by one completion (``ok``, ``fail`` or ``info`` when
the outcome is unknown) from the same process. Faults are recorded by the ``nemesis`` process and node
probes by the ``probe`` process. The on-disk form is JSON lines, one record per line.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

_loads: Callable[[bytes], Any]
_DecodeError: type[ValueError]
try:
    import orjson

    _loads, _DecodeError = orjson.loads, orjson.JSONDecodeError
except ImportError:  # an environment installed before orjson was a dependency: slower, the same ops
    _loads, _DecodeError = json.loads, json.JSONDecodeError
try:
    import msgspec
except ImportError:  # an environment installed before msgspec was a dependency: every line read one by one
    msgspec = None  # type: ignore[assignment]

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")

NEMESIS = "nemesis"
PROBE = "probe"

# Operation names (the ``f`` field).
SEND = "send"
RECEIVE = "receive"
ACK = "ack"
FAULT_START = "start"  # nemesis: value = {"fault": name, "target": node, "fault_id": n}
FAULT_END = "stop"  # nemesis: the fault healed
PROBE_NODE = "probe"  # probe: value = {"round": r, "accepting": bool, "group": name}
# A consumer's subscription on a broker begins and ends (lone ``ok`` records of the consumer's process):
# value = {"destination": d, "exclusive": bool, "cause": ...}. ``cause`` is "subscribe" or "resumed" (the
# failover client subscribed again after reconnecting) for SUBSCRIBED, and "close" (the consumer left a
# live broker) or "interrupted" (its connection was lost) for UNSUBSCRIBED. A close is recorded before
# the UNSUBSCRIBE is sent, so nothing the broker does after it can precede it in the history.
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a history is built or checked.

    Loading or checking a history allocates millions of objects that all stay alive; every collection
    the allocations trigger walks them again for nothing (it made loading about twice as slow). Ops hold
    no reference cycles, so nothing is left for the collector to find.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class MessageKey(NamedTuple):
    """Identity of one workload message: the producer that made it and its sequence number.

    A named tuple rather than a dataclass: checkers hash millions of keys into sets and dicts, and a
    tuple's hash and equality run in C (a frozen dataclass's in Python, the larger part of checking
    a long history). Keys sort by producer, then seq.
    """

    producer: str
    seq: int

    def to_json(self) -> list[Any]:
        return [self.producer, self.seq]

    @classmethod
    def from_json(cls, raw: Any) -> MessageKey:
        producer, seq = raw
        return cls(str(producer), int(seq))

    def __str__(self) -> str:
        return f"{self.producer}#{self.seq}"


EMPTY_META: Mapping[str, Any] = MappingProxyType({})
"""The ``meta`` of every op recorded without extras: one shared, read-only mapping instead of an empty
dict per op (most ops of a long history have none)."""


class _OpFields(NamedTuple):
    index: int  # type: ignore[assignment]  # the field shadows tuple.index(), unused on an op
    process: int | str
    type: OpType
    f: str
    value: Any
    time_ns: int
    node: str | None = None
    meta: Mapping[str, Any] = EMPTY_META


class Op(_OpFields):
    """One history record, immutable.

    ``value`` is a MessageKey for send/receive/ack, a dict for nemesis and probe records.
    ``node`` names the broker that confirmed the operation (ok) or was targeted (nemesis, probe).
    ``meta`` carries extras: ``redelivered`` (bool) and ``group`` (message group) on receives,
    ``destination``, ``message_id``, ``error`` on failures; ``drain`` on deliveries to the final drain
    and ``after_restart`` on those of the drain that follows a restart of every node.

    A named tuple rather than a dataclass: a long history holds millions of ops, and a tuple is built
    in C (a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, the larger
    part of loading a history) and its fields are read in C.
    """

    __slots__ = ()

    @property
    def key(self) -> MessageKey:
        if not isinstance(self.value, MessageKey):
            raise TypeError(f"op {self.index} ({self.f}) carries no message key: {self.value!r}")
        return self.value

    def to_json(self) -> dict[str, Any]:
        value = self.value.to_json() if isinstance(self.value, MessageKey) else self.value
        record: dict[str, Any] = {
            "index": self.index,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": value,
            "time_ns": self.time_ns,
            "node": self.node,
        }
        if self.meta:
            record["meta"] = dict(self.meta)
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Op:
        if record.get("type") not in OP_TYPES:
            raise ValueError(f"history record {record.get('index')}: unknown type {record.get('type')!r}")
        value = record.get("value")
        if record.get("f") in (SEND, RECEIVE, ACK) and isinstance(value, list):
            value = MessageKey.from_json(value)
        meta = record.get("meta")
        return cls(
            index=int(record["index"]),
            process=record["process"],
            type=record["type"],
            f=str(record["f"]),
            value=value,
            time_ns=int(record["time_ns"]),
            node=record.get("node"),
            meta=dict(meta) if meta else EMPTY_META,
        )


class History:
    """An append-only, thread-safe list of operations, indexed in the order they were recorded."""

    def __init__(self, ops: Iterable[Op] = (), clock: Any = time.monotonic_ns) -> None:
        self._ops: list[Op] = list(ops)
        self._lock = threading.Lock()
        self._clock = clock

    def record(
        self,
        process: int | str,
        type: OpType,
        f: str,
        value: Any = None,
        node: str | None = None,
        **meta: Any,
    ) -> Op:
        with self._lock:
            op = Op(self._recorded(), process, type, f, value, self._clock(), node, dict(meta) if meta else EMPTY_META)
            self._keep(op)
            return op

    # Where a record goes, under the lock: overridden by a history that streams its records to disk.
    def _recorded(self) -> int:
        return len(self._ops)

    def _keep(self, op: Op) -> None:
        self._ops.append(op)

    def __iter__(self) -> Iterator[Op]:
        with self._lock:
            return iter(list(self._ops))

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def save(self, path: Path) -> Path:
        """Written beside ``path`` and renamed over it: a crash or a full disk never leaves half a history."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8") as out:
                for op in self.ops():
                    out.write(encode_op(op))
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path) -> History:
        with gc_paused(), path.open("rb") as src:
            return cls(read_ops(src, str(path)))


def encode_op(op: Op) -> str:
    """One op as a line of the on-disk form (what ``read_ops`` reads back)."""
    return json.dumps(op.to_json(), sort_keys=True) + "\n"


# Record types by name: looking one up both checks it and gives the one shared string.
_TYPES: dict[Any, OpType] = {"invoke": "invoke", "ok": "ok", "fail": "fail", "info": "info"}
_KEYED = frozenset((SEND, RECEIVE, ACK))
# Meta entries whose values repeat across a history (a handful of destinations and groups) are shared:
# "destination" and "group" (read_ops names them itself).
# A meta made of these entries alone (a send's destination and group) repeats too: one read-only copy
# of each is shared by the ops that carry it. Metas with an entry of their own (a message-id) are not.
_SHAREABLE_META = frozenset(("destination", "group", "redelivered", "drain", "after_restart", "exclusive"))


def read_ops(lines: Iterable[bytes], source: str = "history") -> list[Op]:
    """Parse JSON lines into ops, as ``Op.from_json`` does line by line, with less time and memory.

    Strings that repeat (operation names, nodes, processes, producers, destinations, groups) are kept
    once, and so is each message key (a message's send, delivery and ack share one): a history of
    millions of ops would otherwise hold millions of copies of a few names. Errors name the line.

    Each line is decoded straight into a typed record (msgspec), which takes about half the time of
    parsing it into a dict and reading the fields from that. A line the typed decoder refuses (a
    record of another shape: a float index, a list for a process, a blank line, not JSON) is parsed
    again as any JSON (:meth:`_Reader.parsed`), the reading that decides what a history record is:
    both give the same ops.
    """
    reader = _Reader(source)
    if _decode is None:
        return reader.parsed(lines)
    decode, refused = _decode, _Refused
    new = tuple.__new__
    intern = reader.strings.setdefault
    keys = reader.keys
    share = reader.shared_meta
    keyed = _KEYED
    ops = reader.ops
    append = ops.append
    for line_no, line in enumerate(lines, 1):
        try:
            record = decode(line)
        except refused:
            reader.parsed((line,), line_no)
            continue
        f = record.f
        f = intern(f, f)
        value: Any = record.value
        if type(value) is MessageKey:  # any [str, int]: the decoder built the key
            if f in keyed:
                key = keys.get(value)
                if key is None:
                    producer = value.producer
                    key = keys[value] = new(MessageKey, (intern(producer, producer), value.seq))
                value = key
            else:
                value = list(value)  # a list, as any other op's
        process = record.process
        if type(process) is str:
            process = intern(process, process)
        node = record.node
        if node is not None:
            node = intern(node, node)
        extras = record.meta
        meta = share(extras) if extras else EMPTY_META
        append(new(Op, (record.index, process, record.type, f, value, record.time_ns, node, meta)))
    return ops


if msgspec is not None:

    class _Record(msgspec.Struct, gc=False):
        """A history record as every recorder writes it, for the typed decoder."""

        index: int
        process: int | str
        type: OpType
        f: str
        time_ns: int
        # A list is a message key or nothing: other lists (a custom op's) are parsed as any JSON.
        value: MessageKey | dict[str, Any] | str | int | float | bool | None = None
        node: str | None = None
        meta: dict[str, Any] | None = None

    _decode: Callable[[bytes], _Record] | None = msgspec.json.Decoder(_Record).decode
    _Refused: type[Exception] = msgspec.DecodeError  # ValidationError (a record of another shape) is one
else:
    _decode, _Refused = None, ValueError


class _Reader:
    """The ops read so far and the strings, keys and metas they share, whichever way a line was read."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.ops: list[Op] = []
        self.strings: dict[str, str] = {}
        self.keys: dict[MessageKey, MessageKey] = {}
        self.metas: dict[tuple[tuple[str, Any], ...], Mapping[str, Any]] = {}

    def shared_meta(self, meta: dict[str, Any]) -> Mapping[str, Any]:
        """``meta`` read-only and shared if made of shareable entries alone (see _SHAREABLE_META), else
        itself, with its destination and group replaced by the history's one copy of each."""
        if _SHAREABLE_META.issuperset(meta):
            try:
                entries = tuple(meta.items())
                known = self.metas.get(entries)  # most are: found before any of its strings is looked up
                if known is None:
                    known = self.metas[entries] = MappingProxyType(self._interned(meta))
                return known
            except TypeError:  # a value that is not hashable: kept as it is
                pass
        return self._interned(meta)

    def _interned(self, meta: dict[str, Any]) -> dict[str, Any]:
        intern = self.strings.setdefault
        repeated = meta.get("destination")
        if type(repeated) is str:
            meta["destination"] = intern(repeated, repeated)
        repeated = meta.get("group")
        if type(repeated) is str:
            meta["group"] = intern(repeated, repeated)
        return meta

    def parsed(self, lines: Iterable[bytes], first: int = 1) -> list[Op]:
        """Read ``lines`` (line ``first`` onwards) as any JSON a record may be; errors name the line."""
        loads = _loads
        new = tuple.__new__
        intern = self.strings.setdefault
        keys = self.keys
        append = self.ops.append
        for line_no, line in enumerate(lines, first):
            try:
                try:
                    record = loads(line)
                except _DecodeError:
                    if not line.strip():
                        continue
                    record = json.loads(line)  # what orjson refuses and json reads (NaN, huge integers)
                type_ = _TYPES.get(record.get("type"))
                if type_ is None:
                    raise ValueError(f"history record {record.get('index')}: unknown type {record.get('type')!r}")
                f = record["f"]
                f = intern(f, f) if type(f) is str else str(f)
                value = record.get("value")
                if f in _KEYED and type(value) is list:
                    producer, seq = value
                    producer = intern(producer, producer) if type(producer) is str else str(producer)
                    key = new(MessageKey, (producer, seq if type(seq) is int else int(seq)))
                    value = keys.setdefault(key, key)
                index = record["index"]
                if type(index) is not int:
                    index = int(index)
                time_ns = record["time_ns"]
                if type(time_ns) is not int:
                    time_ns = int(time_ns)
                process = record["process"]
                if type(process) is str:
                    process = intern(process, process)
                node = record.get("node")
                if type(node) is str:
                    node = intern(node, node)
                meta = record.get("meta")
                meta = self.shared_meta(meta if type(meta) is dict else dict(meta)) if meta else EMPTY_META
                append(new(Op, (index, process, type_, f, value, time_ns, node, meta)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{self.source}:{line_no}: not a history record: {exc}") from exc
        return self.ops


def completions(ops: Iterable[Op]) -> dict[int, Op]:
    """Map the index of every invoke to the op that completed it.

    The completion is the next non-invoke record with the same process and ``f``; deliveries
    (``receive``) are pushed by the broker and are recorded as a lone ``ok``.
    """
    pending: dict[tuple[int | str, str], Op] = {}
    done: dict[int, Op] = {}
    for op in ops:
        slot = (op.process, op.f)
        if op.type == "invoke":
            pending[slot] = op
        elif slot in pending:
            done[pending.pop(slot).index] = op
    return done
