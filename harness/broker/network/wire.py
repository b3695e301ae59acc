"""The inter-broker protocol: STOMP 1.2 frames (the broker's own codec) with bridge commands.

    BRIDGE    initiator -> acceptor: broker, store (its identity), connector, duplex and the settings
    BRIDGED   acceptor -> initiator: broker and store (or ERROR with a message, and the connection closes)
    DEMAND    the consumers a side advertises, per queue (JSON body: {queue: [hops, count, [path]]})
    FORWARD   one message, under its own id, with its broker path; answered by
    RECEIPT   id: the receiver stored it (persistent) or took it (non-persistent), held undelivered
    COMMIT    id: the sender's removal of its copy is stored, with a tombstone naming the receiver's
              store: the receiver may deliver it
    RESOLVE   (receiver, on a new bridge) ids it holds from the sender's store since a bridge failed
    RESOLVED  JSON {"release": [...], "drop": [...]}: release those whose tombstone names the
              receiver's store, drop the others
    FORWARDED (sender, on a new bridge) ids of its tombstones naming the receiver's store
    FORGET    ids: the receiver no longer holds them undelivered (its release is stored): the sender
              drops their tombstones
Ids in RESOLVE, FORWARDED and FORGET bodies are one per line. A lone end of line is a heart-beat.
The sender of a message acknowledges it locally only once the RECEIPT came back (store and forward),
and the receiver delivers it only once the sender's acknowledgement is stored: a message exists for
consumers on one broker at a time, whichever of them dies or loses the link in between. Both ends
name stores, not brokers, so whichever broker serves a store (a pair's other node, a restarted one)
answers for what left it: the tombstones are in the store, not in a process's memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from harness.broker.message import Message
from harness.broker.network.routing import Demand
from harness.broker.stomp.frames import V1_2, Frame, encode_frame

HEARTBEAT = b"\n"
_HEADER_PREFIX = "h."


def frame_bytes(command: str, headers: Mapping[str, str], body: bytes = b"") -> bytes:
    return encode_frame(Frame(command, dict(headers), body), V1_2)


def demand_body(demand: Mapping[str, Demand]) -> bytes:
    return json.dumps({q: [d.hops, d.count, list(d.path)] for q, d in sorted(demand.items())}).encode()


def parse_demand(body: bytes) -> dict[str, Demand]:
    try:
        raw = json.loads(body.decode("utf-8") or "{}")
        return {str(q): Demand(int(v[0]), int(v[1]), tuple(str(p) for p in v[2])) for q, v in raw.items()}
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"malformed DEMAND body: {exc}") from None


def forward_frame(msg: Message, path: str, sent_ms: int) -> bytes:
    headers = {
        "sent": str(sent_ms),
        "id": msg.message_id,
        "destination": msg.destination,
        "persistent": "true" if msg.persistent else "false",
        "priority": str(msg.priority),
        "expires": str(msg.expires),
        "timestamp": str(msg.timestamp),
        "path": path,
    }
    if msg.group_id is not None:
        headers["group-id"] = msg.group_id
        headers["group-seq"] = str(msg.group_seq)
    for name, value in msg.headers.items():
        headers[_HEADER_PREFIX + name] = value
    return frame_bytes("FORWARD", headers, msg.body)


def forwarded_message(frame: Frame, path_header: str) -> Message:
    """The message a FORWARD frame carries, its broker path in its headers under ``path_header``."""
    h = frame.headers
    headers = {k[len(_HEADER_PREFIX) :]: v for k, v in h.items() if k.startswith(_HEADER_PREFIX)}
    headers[path_header] = h.get("path", "")
    try:
        return Message(
            h["id"],
            h["destination"],
            headers,
            frame.body,
            h.get("persistent") == "true",
            priority=int(h.get("priority", "4")),
            expires=int(h.get("expires", "0")),
            timestamp=int(h.get("timestamp", "0")),
            group_id=h.get("group-id"),
            group_seq=int(h.get("group-seq", "0")),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"malformed FORWARD frame: {exc!r}") from None


def resolved_body(release: list[str], drop: list[str]) -> bytes:
    return json.dumps({"release": release, "drop": drop}).encode()


def parse_resolved(body: bytes) -> tuple[list[str], list[str]]:
    try:
        raw = json.loads(body.decode("utf-8"))
        return [str(i) for i in raw["release"]], [str(i) for i in raw["drop"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"malformed RESOLVED body: {exc!r}") from None
