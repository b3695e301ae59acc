"""The replication protocol between a replicated store's master and its slaves, over one TCP connection.

A frame is ``[u32 length][u8 kind][u32 header length][JSON header][payload]``; the payload of SNAPSHOT
and WAL frames is a batch of journal operations in the journal's own encoding.

  slave -> master  LOGIN {node_id, token, term}   the highest master term the slave has followed
  master -> slave  SNAPSHOT {term, seq}            the master's whole state after its seq-th write
  master -> slave  WAL {term, seq}                 one write (one journal record), seq = previous + 1
  slave -> master  ACK {seq}                       everything up to seq is held (memory or disk: sync mode)
  both ways        HEARTBEAT {}                    sent when idle; silence for a session timeout ends the link
  master -> slave  ERROR {message}                 then the master closes the connection
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

_HEAD = struct.Struct(">IBI")
MAX_FRAME_BYTES = 512 * 1024 * 1024


class Kind(IntEnum):
    LOGIN = 1
    SNAPSHOT = 2
    WAL = 3
    ACK = 4
    HEARTBEAT = 5
    ERROR = 6


class ProtocolError(Exception):
    """The peer sent something outside the protocol; the link is closed."""


@dataclass(frozen=True)
class Frame:
    kind: Kind
    header: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""


def encode(frame: Frame) -> bytes:
    header = json.dumps(frame.header, separators=(",", ":")).encode("utf-8")
    length = 1 + 4 + len(header) + len(frame.payload)
    return _HEAD.pack(length, int(frame.kind), len(header)) + header + frame.payload


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame; asyncio.IncompleteReadError when the peer closed the connection."""
    head = await reader.readexactly(_HEAD.size)
    length, kind, header_length = _HEAD.unpack(head)
    if length > MAX_FRAME_BYTES or header_length > length - 5:
        raise ProtocolError(f"frame of {length} bytes with a {header_length}-byte header")
    body = await reader.readexactly(length - 5)
    try:
        header = json.loads(body[:header_length].decode("utf-8"))
        return Frame(Kind(kind), header, body[header_length:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"unreadable frame: {exc}") from None


class Link:
    """One side of a replication connection: frames out in order, frames in one at a time.

    Frames sent during one turn of the event loop leave in one write (a master under load sends each
    slave many WAL frames per turn; a slave acknowledges in bursts), flushed when the turn ends.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, silence_s: float) -> None:
        self.reader = reader
        self.writer = writer
        self.silence_s = silence_s
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._out: list[bytes] = []

    def send(self, frame: Frame) -> None:
        if self.writer.is_closing():
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self.flush)
        self._out.append(encode(frame))

    def flush(self) -> None:
        """Write what was sent so far (called at the end of the loop's turn, and before closing)."""
        out, self._out = self._out, []
        if out and not self.writer.is_closing():
            self.writer.write(b"".join(out))

    async def receive(self) -> Frame:
        """The next frame other than a heartbeat; TimeoutError after ``silence_s`` without any frame."""
        while True:
            # asyncio.timeout, not wait_for: no task per frame (a frame already buffered is read at once).
            async with asyncio.timeout(self.silence_s):
                frame = await read_frame(self.reader)
            if frame.kind != Kind.HEARTBEAT:
                return frame

    async def heartbeats(self, period_s: float) -> None:
        """Send a heartbeat every ``period_s`` until the connection closes (run as a task)."""
        while not self.writer.is_closing():
            await asyncio.sleep(period_s)
            self.send(Frame(Kind.HEARTBEAT))

    def close(self) -> None:
        self.flush()
        if not self.writer.is_closing():
            self.writer.close()

    def abort(self) -> None:
        """Reset the connection at once (a deposed or stopping master); an ERROR frame sent just before
        is written first."""
        self.flush()
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


class Acknowledger:
    """A slave's acknowledgements: one ACK per turn of the event loop, for the highest seq held by then
    (an ACK covers every write up to its seq)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._seq = -1
        self._sent = -1

    def ack(self, seq: int) -> None:
        if seq > self._seq:
            if self._seq == self._sent:
                asyncio.get_running_loop().call_soon(self._send)
            self._seq = seq

    def _send(self) -> None:
        if self._seq > self._sent:
            self._sent = self._seq
            self.link.send(Frame(Kind.ACK, {"seq": self._seq}))
