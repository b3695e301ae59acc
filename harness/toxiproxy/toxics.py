"""Toxics as the Toxiproxy API names them: their types, attributes, streams, toxicity and JSON form.

This module holds the configuration side only (what a client posts and reads back); what each toxic
does to the bytes of a connection is in ``link.py``. Attribute names, units and defaults follow
Toxiproxy's toxics (v2): latency and jitter in ms, bandwidth rate in KB/s (1 KB = 1000 bytes),
slow_close delay in ms, timeout in ms (0: forever), reset_peer timeout in ms, slicer average_size and
size_variation in bytes and delay in microseconds, limit_data bytes. Attributes are integers; a
missing attribute is 0, as in Toxiproxy, where every attribute is a Go integer with a zero value.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.toxiproxy.errors import ApiError, bad_request

Stream = Literal["upstream", "downstream"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream")

# Each toxic type and its attributes, in the order Toxiproxy's JSON lists them.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}


def parse_stream(value: object) -> Stream:
    """Toxiproxy accepts the stream name in any letter case and stores it as given."""
    if isinstance(value, str) and value.lower() in STREAMS:
        return "upstream" if value.lower() == "upstream" else "downstream"
    raise ApiError("stream was invalid, can be either upstream or downstream", 400)


def _integer(toxic_type: str, name: str, value: object) -> int:
    # JSON true/false are not numbers, and Go's int64 fields refuse fractions.
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"attribute {name} of a {toxic_type} toxic must be an integer, got {value!r}")
    return value


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"toxicity must be a number, got {value!r}")
    return float(value)


@dataclass
class Toxic:
    """One toxic on a proxy. ``version`` changes on every update, so links can tell they must re-read it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]
    version: int = 0
    index: int = field(default=-1, compare=False)

    @property
    def direction(self) -> Stream:
        return parse_stream(self.stream)

    def attribute(self, name: str) -> int:
        return self.attributes.get(name, 0)

    def applies(self, rng: random.Random) -> bool:
        """Toxicity: the chance that this toxic acts on a given link (else the link passes data through)."""
        return rng.random() < self.toxicity

    def to_json(self) -> dict[str, Any]:
        toxicity: float | int = int(self.toxicity) if self.toxicity.is_integer() else self.toxicity
        return {
            "attributes": {name: self.attribute(name) for name in TOXIC_ATTRIBUTES[self.type]},
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": toxicity,
        }

    def update(self, body: object) -> None:
        """Apply a ToxicUpdate body: attributes merge into the current ones; toxicity replaces it if given."""
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object")
        attributes = body.get("attributes", {})
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, dict):
            raise bad_request("attributes must be a JSON object")
        merged = dict(self.attributes)
        for name in TOXIC_ATTRIBUTES[self.type]:
            if name in attributes:
                merged[name] = _integer(self.type, name, attributes[name])
        toxicity = _toxicity(body["toxicity"]) if "toxicity" in body else self.toxicity
        self.attributes, self.toxicity = merged, toxicity
        self.version += 1


def toxic_from_json(body: object) -> Toxic:
    """A ToxicCreate body: type required; stream defaults to downstream, toxicity to 1, name to TYPE_STREAM."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    # Absent or null: downstream; anything else must name a stream (kept as written, as Toxiproxy does).
    stream = body.get("stream")
    if stream is None:
        stream = "downstream"
    parse_stream(stream)
    toxic_type = body.get("type")
    if not isinstance(toxic_type, str) or toxic_type not in TOXIC_ATTRIBUTES:
        raise ApiError("invalid toxic type", 400)
    name = body.get("name") or f"{toxic_type}_{stream}"
    if not isinstance(name, str):
        raise bad_request(f"name must be a string, got {name!r}")
    toxicity = _toxicity(body["toxicity"]) if body.get("toxicity") is not None else 1.0
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_request("attributes must be a JSON object")
    known = [attr for attr in TOXIC_ATTRIBUTES[toxic_type] if attr in attributes]
    values = {attr: _integer(toxic_type, attr, attributes[attr]) for attr in known}
    return Toxic(name=name, type=toxic_type, stream=str(stream), toxicity=toxicity, attributes=values)
