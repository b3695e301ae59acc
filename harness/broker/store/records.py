"""The binary encoding of store operations, shared by the journal (its records) and the JDBC store
(its message rows): strings with 16-bit lengths, JSON objects and bodies with 32-bit lengths.

Journals written before containers existed (``A``/``R`` operations: queue messages keyed by id
alone) are still read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable

from harness.broker.message import DEFAULT_PRIORITY, Message
from harness.broker.store.contract import (
    AddOp,
    CheckpointOp,
    DurableSubscriptionRecord,
    Op,
    RemoveOp,
    SubscribeOp,
    UnsubscribeOp,
)

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

_OP_ADD_V1 = 0x41  # "A": message (its destination is its container), no metadata
_OP_REMOVE_V1 = 0x52  # "R": by message id alone
_OP_ADD = 0x4D  # "M": container, message, metadata
_OP_REMOVE = 0x58  # "X": container, message id
_OP_SUBSCRIBE = 0x53  # "S": a durable topic subscription
_OP_UNSUBSCRIBE = 0x55  # "U": its deletion, with its messages
_OP_CHECKPOINT = 0x43  # "C"


class CorruptRecord(Exception):
    pass


def _str16(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError(f"string too long for the journal: {len(data)} bytes")
    return _U16.pack(len(data)) + data


# One encoder for every record: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json32(value: object) -> list[bytes]:
    data = _JSON(value).encode("utf-8")
    return [_U32.pack(len(data)), data]


def _metadata(msg: Message) -> dict[str, object]:
    """The message fields beyond id/destination/headers/body; defaults are left out."""
    meta: dict[str, object] = {}
    if msg.priority != DEFAULT_PRIORITY:
        meta["priority"] = msg.priority
    for name in ("expires", "timestamp", "redelivery_count", "deliver_at", "group_seq"):
        value = getattr(msg, name)
        if value:
            meta[name] = value
    if msg.group_id is not None:
        meta["group_id"] = msg.group_id
    return meta


def encode_ops(ops: Iterable[Op]) -> bytes:
    parts: list[bytes] = []
    for op in ops:
        if isinstance(op, AddOp):
            msg = op.message
            parts += [
                bytes((_OP_ADD,)),
                _str16(msg.container or msg.destination),
                _str16(msg.message_id),
                _str16(msg.destination),
                *_json32(_metadata(msg)),
                *_json32(msg.headers),
                _U32.pack(len(msg.body)),
                msg.body,
            ]
        elif isinstance(op, RemoveOp):
            if op.container:
                parts += [bytes((_OP_REMOVE,)), _str16(op.container), _str16(op.message_id)]
            else:
                parts += [bytes((_OP_REMOVE_V1,)), _str16(op.message_id)]
        elif isinstance(op, SubscribeOp):
            record = op.record
            fields = {
                "client_id": record.client_id,
                "name": record.name,
                "destination": record.destination,
                "selector": record.selector,
                "no_local": record.no_local,
            }
            parts += [bytes((_OP_SUBSCRIBE,)), _str16(record.key), *_json32(fields)]
        elif isinstance(op, UnsubscribeOp):
            parts += [bytes((_OP_UNSUBSCRIBE,)), _str16(op.key)]
        else:
            parts.append(bytes((_OP_CHECKPOINT,)))
    return b"".join(parts)


def decode_ops(payload: bytes) -> list[Op]:
    ops: list[Op] = []
    view = memoryview(payload)
    pos = 0
    n = len(payload)

    def take(size: int) -> memoryview:
        nonlocal pos
        if pos + size > n:
            raise CorruptRecord("operation runs past the end of its record")
        chunk = view[pos : pos + size]
        pos += size
        return chunk

    def text16() -> str:
        (length,) = _U16.unpack(take(2))
        return bytes(take(length)).decode("utf-8")

    def json_object(what: str) -> dict[str, object]:
        (length,) = _U32.unpack(take(4))
        value = json.loads(bytes(take(length)).decode("utf-8"))
        if not isinstance(value, dict):
            raise CorruptRecord(f"{what} is not a JSON object")
        return value

    def blob() -> bytes:
        (length,) = _U32.unpack(take(4))
        return bytes(take(length))

    try:
        while pos < n:
            kind = payload[pos]
            pos += 1
            if kind == _OP_ADD:
                container = text16()
                message_id = text16()
                destination = text16()
                meta = json_object("message metadata")
                headers = json_object("message headers")
                msg = Message(message_id, destination, {str(k): str(v) for k, v in headers.items()}, blob(), True)
                _apply_metadata(msg, meta)
                msg.container = container
                ops.append(AddOp(msg))
            elif kind == _OP_ADD_V1:
                message_id = text16()
                destination = text16()
                headers = json_object("message headers")
                msg = Message(message_id, destination, {str(k): str(v) for k, v in headers.items()}, blob(), True)
                msg.container = destination
                ops.append(AddOp(msg))
            elif kind == _OP_REMOVE:
                container = text16()
                ops.append(RemoveOp(text16(), container))
            elif kind == _OP_REMOVE_V1:
                ops.append(RemoveOp(text16()))
            elif kind == _OP_SUBSCRIBE:
                key = text16()
                fields = json_object("durable subscription")
                selector = fields.get("selector")
                ops.append(
                    SubscribeOp(
                        DurableSubscriptionRecord(
                            key,
                            str(fields["client_id"]),
                            str(fields["name"]),
                            str(fields["destination"]),
                            None if selector is None else str(selector),
                            bool(fields.get("no_local", False)),
                        )
                    )
                )
            elif kind == _OP_UNSUBSCRIBE:
                ops.append(UnsubscribeOp(text16()))
            elif kind == _OP_CHECKPOINT:
                ops.append(CheckpointOp())
            else:
                raise CorruptRecord(f"unknown operation type {kind:#x}")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise CorruptRecord(str(exc)) from exc
    return ops


def _apply_metadata(msg: Message, meta: dict[str, object]) -> None:
    for name in ("priority", "expires", "timestamp", "redelivery_count", "deliver_at", "group_seq"):
        value = meta.get(name)
        if value is not None:
            if not isinstance(value, int):
                raise CorruptRecord(f"message metadata {name} is not an integer")
            setattr(msg, name, value)
    group_id = meta.get("group_id")
    if group_id is not None:
        msg.group_id = str(group_id)
