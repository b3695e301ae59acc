"""The client side of the STOMP wire format: frames as a broker sends them, read byte by byte.

Written independently of pybroker's codec on purpose: conformance scenarios check what a broker
puts on the wire, so the reader must not share the broker's assumptions. It is strict where the
specification is (NUL after content-length bytes, ``name:value`` header lines, defined escapes)
and reports a violation instead of guessing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

# CONNECT, STOMP and CONNECTED never escape headers, so that STOMP 1.0 peers can read them.
UNESCAPED_COMMANDS = frozenset({"CONNECT", "STOMP", "CONNECTED"})
_ESCAPE = {"1.1": {"\\": "\\\\", "\n": "\\n", ":": "\\c"}, "1.2": {"\\": "\\\\", "\n": "\\n", ":": "\\c", "\r": "\\r"}}
_UNESCAPE = {"1.1": {"\\": "\\", "n": "\n", "c": ":"}, "1.2": {"\\": "\\", "n": "\n", "c": ":", "r": "\r"}}


class WireViolation(Exception):
    """The broker sent bytes that are not a valid STOMP frame for the negotiated version."""


@dataclass(frozen=True)
class StompFrame:
    """One frame as received. ``headers`` keeps the first occurrence of a repeated header (STOMP 1.2);
    ``header_lines`` keeps every line, in order, unescaped."""

    command: str
    headers: Mapping[str, str]
    body: bytes = b""
    header_lines: tuple[tuple[str, str], ...] = ()
    received_at: float = field(default=0.0, compare=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def __str__(self) -> str:
        headers = ", ".join(f"{k}={v!r}" for k, v in self.headers.items() if k != "content-length")
        body = self.text.strip().splitlines()
        first = f" body {body[0][:120]!r}" if body else ""
        return f"{self.command} [{headers}]{first}"


def escape(text: str, version: str) -> str:
    """Escape a header name or value; 1.0 has no escaping."""
    table = _ESCAPE.get(version)
    if table is None:
        return text
    return "".join(table.get(ch, ch) for ch in text)


def unescape(text: str, version: str) -> str:
    table = _UNESCAPE.get(version)
    if table is None or "\\" not in text:
        return text
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if nxt not in table:
            raise WireViolation(f"undefined escape sequence \\{nxt} in header {text!r} (STOMP {version})")
        out.append(table[nxt])
    return "".join(out)


def encode(command: str, headers: Mapping[str, str] | None = None, body: bytes = b"", version: str = "1.2") -> bytes:
    """A frame as bytes; header order is kept and nothing is added (content-length is the caller's)."""
    escaped = command not in UNESCAPED_COMMANDS
    lines = [command]
    for name, value in (headers or {}).items():
        lines.append(f"{escape(name, version)}:{escape(value, version)}" if escaped else f"{name}:{value}")
    return ("\n".join(lines) + "\n\n").encode("utf-8") + body + b"\x00"


class FrameReader:
    """Incremental reader: feed bytes, get frames; EOLs between frames are counted as heart-beats."""

    def __init__(self) -> None:
        self.version = "1.0"  # switched by the CONNECTED frame's version header
        self.heartbeats: list[float] = []
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[StompFrame]:
        self._buf += data
        frames: list[StompFrame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def _next(self) -> StompFrame | None:
        buf = self._buf
        while buf[:1] == b"\n" or buf[:2] == b"\r\n":
            del buf[: 1 if buf[:1] == b"\n" else 2]
            self.heartbeats.append(time.monotonic())
        if not buf or buf == b"\r":
            return None
        end = buf.find(b"\n\n")
        crlf = buf.find(b"\r\n\r\n")
        if crlf >= 0 and (end < 0 or crlf < end):
            head_end, body_start = crlf, crlf + 4
        elif end >= 0:
            head_end, body_start = end, end + 2
        else:
            return None
        try:
            head = bytes(buf[:head_end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireViolation(f"frame head is not UTF-8: {bytes(buf[:head_end])[:200]!r}") from exc
        lines = [line.removesuffix("\r") for line in head.split("\n")]
        command = lines[0]
        escaped = command not in UNESCAPED_COMMANDS
        header_lines: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise WireViolation(f"{command} frame: header line without a colon: {line!r}")
            if escaped:
                name, value = unescape(name, self.version), unescape(value, self.version)
            header_lines.append((name, value))
        headers: dict[str, str] = {}
        for name, value in header_lines:
            headers.setdefault(name, value)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise WireViolation(f"{command} frame: content-length {length!r} is not a number")
            body_end = body_start + int(length)
            if len(buf) <= body_end:
                return None
            if buf[body_end] != 0:
                raise WireViolation(f"{command} frame: no NUL after content-length {length} bytes")
        else:
            body_end = buf.find(b"\x00", body_start)
            if body_end < 0:
                return None
        body = bytes(buf[body_start:body_end])
        del buf[: body_end + 1]
        if command == "CONNECTED":
            self.version = headers.get("version", "1.0")
        return StompFrame(command, headers, body, tuple(header_lines), time.monotonic())
