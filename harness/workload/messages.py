"""Workload message bodies: the message key travels in the body, which every broker keeps intact."""

from __future__ import annotations

from harness.history import MessageKey


def encode_body(key: MessageKey, payload_bytes: int = 0) -> str:
    head = f"{key.producer}:{key.seq}:"
    return head + "x" * max(0, payload_bytes - len(head))


def decode_key(body: bytes | str) -> MessageKey | None:
    """The key of a workload message, or None for a body the workload did not write."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    parts = text.split(":", 2)
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return MessageKey(parts[0], int(parts[1]))
