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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

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


@dataclass(frozen=True, slots=True)
class Op:
    """One history record.

    ``value`` is a MessageKey for send/receive/ack, a dict for nemesis and probe records.
    ``node`` names the broker that confirmed the operation (ok) or was targeted (nemesis, probe).
    ``meta`` carries extras: ``redelivered`` (bool) and ``group`` (message group) on receives,
    ``destination``, ``message_id``, ``error`` on failures; ``drain`` on deliveries to the final drain
    and ``after_restart`` on those of the drain that follows a restart of every node.
    """

    index: int
    process: int | str
    type: OpType
    f: str
    value: Any
    time_ns: int
    node: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

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
            record["meta"] = self.meta
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Op:
        if record.get("type") not in OP_TYPES:
            raise ValueError(f"history record {record.get('index')}: unknown type {record.get('type')!r}")
        value = record.get("value")
        if record.get("f") in (SEND, RECEIVE, ACK) and isinstance(value, list):
            value = MessageKey.from_json(value)
        return cls(
            index=int(record["index"]),
            process=record["process"],
            type=record["type"],
            f=str(record["f"]),
            value=value,
            time_ns=int(record["time_ns"]),
            node=record.get("node"),
            meta=dict(record.get("meta") or {}),
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
            op = Op(len(self._ops), process, type, f, value, self._clock(), node, dict(meta))
            self._ops.append(op)
            return op

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
                    out.write(json.dumps(op.to_json(), sort_keys=True) + "\n")
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path) -> History:
        ops = []
        with gc_paused(), path.open(encoding="utf-8") as src:
            for line_no, line in enumerate(src, 1):
                if line.strip():
                    try:
                        ops.append(Op.from_json(json.loads(line)))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise ValueError(f"{path}:{line_no}: not a history record: {exc}") from exc
        return cls(ops)


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
