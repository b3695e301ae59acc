"""STOMP frame codec: an incremental parser and a serializer for STOMP 1.0, 1.1 and 1.2.

The parser is fed raw bytes as they arrive and yields complete frames; it never blocks and never
interprets commands (that is the connection's job). Header escaping depends on the negotiated
version, which the connection sets on the parser once CONNECT has been handled: ``pull`` hands out
one frame at a time so that a SEND pipelined behind CONNECT is read with the new version's rules.

Limits and their messages are ActiveMQ's (StompWireFormat): frame size (the connector's
wireFormat.maxFrameSize), 1000 headers, 10 KiB per header line, 1 KiB for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

V1_0 = "1.0"
V1_1 = "1.1"
V1_2 = "1.2"
SUPPORTED_VERSIONS: tuple[str, ...] = (V1_0, V1_1, V1_2)

# ActiveMQ's maxDataLength default; the connector's wireFormat.maxFrameSize overrides it.
DEFAULT_MAX_FRAME_SIZE = 104_857_600
MAX_HEADERS = 1000
MAX_HEADER_LENGTH = 10 * 1024
MAX_COMMAND_LENGTH = 1024

# CONNECT/CONNECTED are never escaped so that 1.0 peers can read them (STOMP 1.1 and 1.2 specs).
_UNESCAPED_COMMANDS = frozenset({"CONNECT", "STOMP", "CONNECTED"})

_ESCAPES_11 = {"\\": "\\\\", "\n": "\\n", ":": "\\c"}
_ESCAPES_12 = {**_ESCAPES_11, "\r": "\\r"}
_UNESCAPES_11 = {"\\": "\\", "n": "\n", "c": ":"}
_UNESCAPES_12 = {**_UNESCAPES_11, "r": "\r"}


class FrameError(Exception):
    """The peer sent bytes that are not a valid STOMP frame; the connection must be closed."""


class FrameTooLarge(FrameError):
    """A frame exceeds the connector's maximum frame size."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The maximum frame size was exceeded (wireFormat.maxFrameSize={limit} bytes)")


@dataclass
class Frame:
    """One STOMP frame. Headers keep their first occurrence only (STOMP 1.2: the first one wins)."""

    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def escape_header(text: str, version: str) -> str:
    """Escape a header name or value for the given protocol version."""
    if version == V1_0:
        # 1.0 has no escaping: a line break would split the header, so it is flattened.
        return text.replace("\r", " ").replace("\n", " ")
    # Four substring tests instead of a generator over the table: this runs for every header of
    # every frame sent (a bridged message's FORWARD alone has a dozen).
    if "\\" not in text and "\n" not in text and ":" not in text and "\r" not in text:
        return text
    table = _ESCAPES_12 if version == V1_2 else _ESCAPES_11
    return "".join(table.get(ch, ch) for ch in text)


def unescape_header(text: str, version: str) -> str:
    """Undo header escaping; an undefined escape sequence is a fatal protocol error in 1.1+."""
    if version == V1_0 or "\\" not in text:
        return text
    table = _UNESCAPES_12 if version == V1_2 else _UNESCAPES_11
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n or text[i + 1] not in table:
            shown = text[i : i + 2]
            raise FrameError(f"undefined escape sequence {shown!r} in header {text!r} (STOMP {version})")
        out.append(table[text[i + 1]])
        i += 2
    return "".join(out)


def encode_frame(frame: Frame, version: str = V1_2) -> bytes:
    """Serialize a frame. A non-empty body always gets an exact content-length header."""
    escape = frame.command not in _UNESCAPED_COMMANDS
    lines = [frame.command]
    for name, value in frame.headers.items():
        if name == "content-length":
            continue
        if escape:
            lines.append(f"{escape_header(name, version)}:{escape_header(value, version)}")
        else:
            lines.append(f"{name}:{value}")
    if frame.body:
        lines.append(f"content-length:{len(frame.body)}")
    head = ("\n".join(lines) + "\n\n").encode("utf-8")
    return head + frame.body + b"\x00"


HEARTBEAT = b"\n"


class FrameParser:
    """Incremental STOMP parser: ``feed`` bytes, get back the frames completed so far.

    Line endings may be LF or CRLF for every version (lenient like ActiveMQ). EOLs between frames
    are heart-beats and are skipped. A frame larger than ``max_frame_size`` (headers plus body)
    raises FrameTooLarge as soon as that is known, without buffering the rest of it.
    """

    def __init__(self, version: str = V1_0, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.version = version
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._pos = 0
        # State of the frame being read: its parsed head, once complete, and where its body starts.
        self._head: tuple[str, dict[str, str], int | None] | None = None
        self._body_start = 0
        self._nul_scan = 0
        self._head_scan = 0  # where the search for the end of the headers resumes

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes and return every frame they complete (all read with the current version)."""
        self.append(data)
        frames: list[Frame] = []
        while True:
            frame = self.pull()
            if frame is None:
                return frames
            frames.append(frame)

    def append(self, data: bytes) -> None:
        self._buf += data

    def pull(self) -> Frame | None:
        """The next complete frame, or None until more bytes arrive."""
        frame = self._next()
        if frame is None and self._pos:
            # Drop consumed bytes; offsets held in the state are relative to the buffer start.
            del self._buf[: self._pos]
            self._body_start -= self._pos
            self._nul_scan -= self._pos
            self._head_scan = max(0, self._head_scan - self._pos)
            self._pos = 0
        return frame

    @property
    def mid_frame(self) -> bool:
        """Whether part of a frame has arrived (not just heart-beat EOLs)."""
        if self._head is not None:
            return True
        return any(b not in (0x0A, 0x0D) for b in self._buf[self._pos : self._pos + 64])

    def _skip_eols(self) -> None:
        buf = self._buf
        n = len(buf)
        while self._pos < n:
            if buf[self._pos] == 0x0A:
                self._pos += 1
            elif buf[self._pos] == 0x0D and self._pos + 1 < n and buf[self._pos + 1] == 0x0A:
                self._pos += 2
            else:
                break

    def _next(self) -> Frame | None:
        if self._head is None:
            self._skip_eols()
            if self._pos >= len(self._buf):
                return None
            if not self._read_head():
                return None
        assert self._head is not None
        command, headers, length = self._head
        buf = self._buf
        start = self._body_start
        if length is not None:
            end = start + length
            if len(buf) <= end:
                return None
            if buf[end] != 0:
                raise FrameError("content-length bytes were read and there was no trailing null byte")
        else:
            end = buf.find(b"\x00", max(self._nul_scan, start))
            if end < 0:
                self._nul_scan = len(buf)
                if len(buf) - self._pos > self.max_frame_size:
                    raise FrameTooLarge(self.max_frame_size)
                return None
            if end - self._pos > self.max_frame_size:
                raise FrameTooLarge(self.max_frame_size)
        body = bytes(buf[start:end])
        self._pos = end + 1
        self._head = None
        return Frame(command, headers, body)

    def _read_head(self) -> bool:
        buf = self._buf
        start = self._pos
        # Resume a little before where the last search stopped: the terminator may straddle feeds.
        scan = max(start, self._head_scan - 2)
        lf_lf = buf.find(b"\n\n", scan)
        lf_crlf = buf.find(b"\n\r\n", scan)
        candidates = [i for i in (lf_lf, lf_crlf) if i >= 0]
        if not candidates:
            self._head_scan = len(buf)
            # A peer streaming one endless line must not make us buffer up to the frame size.
            limit = start + MAX_COMMAND_LENGTH + 2
            if len(buf) > limit and buf.find(b"\n", start, limit) < 0:
                raise FrameError("The maximum command length was exceeded")
            if len(buf) - start > self.max_frame_size:
                raise FrameTooLarge(self.max_frame_size)
            return False
        end = min(candidates)
        body_start = end + (2 if end == lf_lf else 3)
        if body_start - start > self.max_frame_size:
            raise FrameTooLarge(self.max_frame_size)
        try:
            text = bytes(buf[start:end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError("frame command and headers must be UTF-8") from exc
        lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
        command = lines[0].strip(" \t")
        if not command:
            raise FrameError("empty frame command")
        if len(lines[0]) > MAX_COMMAND_LENGTH:
            raise FrameError("The maximum command length was exceeded")
        if len(lines) - 1 > MAX_HEADERS:
            raise FrameError(f"The maximum number of headers was exceeded ({MAX_HEADERS})")
        escaped = command not in _UNESCAPED_COMMANDS
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if len(line) > MAX_HEADER_LENGTH:
                raise FrameError(f"The maximum header length was exceeded ({MAX_HEADER_LENGTH} bytes)")
            name, sep, value = line.partition(":")
            if not sep:
                raise FrameError(f"Unable to parse header line [{line}]: no ':' between name and value")
            if escaped:
                name = unescape_header(name, self.version)
                value = unescape_header(value, self.version)
            headers.setdefault(name, value)  # a repeated header: the first one wins (STOMP 1.2, ActiveMQ)
        length: int | None = None
        raw_length = headers.get("content-length")
        if raw_length is not None:
            try:
                length = int(raw_length.strip())
            except ValueError as exc:
                raise FrameError(f"Specified content-length is not a valid integer: {raw_length!r}") from exc
            if length < 0:
                raise FrameError(f"Specified content-length is not a valid integer: {raw_length!r}")
            if body_start - start + length > self.max_frame_size:
                raise FrameTooLarge(self.max_frame_size)
        self._head = (command, headers, length)
        self._head_scan = 0
        self._body_start = body_start
        self._nul_scan = body_start
        return True
