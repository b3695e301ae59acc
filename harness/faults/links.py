"""Faults on a proxied link (broker to database, clients to broker, broker to broker ...): each one is
an ``enabled: false`` or a toxic on the link's Toxiproxy proxy, set on injection and removed on heal.

``streams`` says which way a toxic acts: "upstream" is what the link's client sends (a broker's
queries to its database, a client's frames to its broker), "downstream" what comes back; "both" sets
one toxic per direction. A fault in one direction only is an asymmetric fault.
"""

from __future__ import annotations

from typing import Literal

from harness.faults.base import Fault
from harness.toxiproxy.links import ProxiedLink

Streams = Literal["upstream", "downstream", "both"]


def _directions(streams: Streams) -> tuple[str, ...]:
    if streams not in ("upstream", "downstream", "both"):
        raise ValueError(f"streams must be 'upstream', 'downstream' or 'both', not {streams!r}")
    return ("upstream", "downstream") if streams == "both" else (streams,)


class LinkCut(Fault):
    """The proxy goes down (Toxiproxy's ``enabled: false``): every connection through it is closed and new
    ones are refused until healed."""

    kind = "link-cut"

    def __init__(self, target: str, link: ProxiedLink) -> None:
        super().__init__(target, link=str(link))
        self.link = link

    def _inject(self) -> None:
        self.link.set_enabled(False)

    def _heal(self) -> None:
        self.link.set_enabled(True)


class LinkToxic(Fault):
    """A Toxiproxy toxic on a link for as long as the fault lasts; subclasses name the toxic and its attributes."""

    kind = "link-toxic"
    toxic_type = ""

    def __init__(self, target: str, link: ProxiedLink, attributes: dict[str, int], streams: Streams) -> None:
        self.directions = _directions(streams)
        super().__init__(target, link=str(link), toxic=self.toxic_type, streams=streams, **attributes)
        self.link = link
        self.attributes = attributes
        self.added: list[str] = []

    def _inject(self) -> None:
        for direction in self.directions:
            name = f"{self.kind}-{self.fault_id}-{direction}"
            self.added.append(self.link.add_toxic(self.toxic_type, self.attributes, direction, toxic_name=name))

    def _heal(self) -> None:
        while self.added:
            self.link.remove_toxic(self.added.pop())


def _positive(fault: str, **values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{fault}: {name} must be > 0, got {value}")


def _not_negative(fault: str, **values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{fault}: {name} must be >= 0, got {value}")


class SlowLink(LinkToxic):
    """Delay every chunk by ``latency_ms`` (± ``jitter_ms``) in each chosen direction (Toxiproxy's latency)."""

    kind = "slow-link"
    toxic_type = "latency"

    def __init__(
        self, target: str, link: ProxiedLink, latency_ms: float, jitter_ms: float = 0, streams: Streams = "both"
    ) -> None:
        _positive("slow link", latency_ms=latency_ms)
        super().__init__(target, link, {"latency": int(latency_ms), "jitter": int(jitter_ms)}, streams)


class Blackhole(LinkToxic):
    """Bytes vanish and the connections stay open (Toxiproxy's timeout 0): a link that hangs while both
    ends look healthy. Healing removes the toxic, which closes the connections it held (as Toxiproxy does)."""

    kind = "blackhole"
    toxic_type = "timeout"

    def __init__(self, target: str, link: ProxiedLink, streams: Streams = "both") -> None:
        super().__init__(target, link, {"timeout": 0}, streams)


class Bandwidth(LinkToxic):
    """Limit the link to ``rate_kb_s`` KB/s (1 KB = 1000 bytes) in each chosen direction."""

    kind = "bandwidth"
    toxic_type = "bandwidth"

    def __init__(self, target: str, link: ProxiedLink, rate_kb_s: int, streams: Streams = "both") -> None:
        _not_negative("bandwidth", rate_kb_s=rate_kb_s)
        super().__init__(target, link, {"rate": int(rate_kb_s)}, streams)


class ResetPeer(LinkToxic):
    """Reset (TCP RST) each connection ``after_ms`` after the first bytes cross it, until healed."""

    kind = "reset-peer"
    toxic_type = "reset_peer"

    def __init__(self, target: str, link: ProxiedLink, after_ms: int = 0, streams: Streams = "downstream") -> None:
        _not_negative("reset peer", after_ms=after_ms)
        super().__init__(target, link, {"timeout": int(after_ms)}, streams)


class Slicer(LinkToxic):
    """Cut the stream into pieces of about ``average_size`` bytes (± ``size_variation``), ``delay_us`` apart."""

    kind = "slicer"
    toxic_type = "slicer"

    def __init__(
        self,
        target: str,
        link: ProxiedLink,
        average_size: int,
        size_variation: int = 0,
        delay_us: int = 0,
        streams: Streams = "both",
    ) -> None:
        _positive("slicer", average_size=average_size)
        if not 0 <= size_variation < average_size:
            raise ValueError(f"slicer: size_variation must be in [0, average_size), got {size_variation}")
        attributes = {"average_size": average_size, "size_variation": size_variation, "delay": delay_us}
        super().__init__(target, link, attributes, streams)


class LimitData(LinkToxic):
    """Close each connection once ``limit_bytes`` have crossed it in a chosen direction."""

    kind = "limit-data"
    toxic_type = "limit_data"

    def __init__(self, target: str, link: ProxiedLink, limit_bytes: int, streams: Streams = "both") -> None:
        _not_negative("limit data", limit_bytes=limit_bytes)
        super().__init__(target, link, {"bytes": int(limit_bytes)}, streams)
