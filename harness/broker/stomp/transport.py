"""The asyncio side of one STOMP connection: bytes in and out, in the order STOMP needs them.

Incoming bytes go through the frame parser to ``_handle`` (the protocol rules, protocol.py); a peer
that stalls in the middle of a frame is closed. Replies that confirm something (CONNECTED, RECEIPT)
go through an ordered outbox: an entry waits for its store future when it has one (the store
resolves it only after the write and a passing fence check) and otherwise runs the fence check
itself just before the write. ERROR frames take the same queue so they never overtake an earlier
RECEIPT. MESSAGE frames are written directly by dispatch, which runs its own fence check per
round. Heart-beats, the CONNECT timeout, the close grace and the connector's connection limit
live here too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from harness.broker.fence import Fence
from harness.broker.stomp.frames import V1_0, Frame, FrameError, FrameParser, encode_frame

CONNECT_TIMEOUT = 30.0  # ActiveMQ's connectAttemptTimeout
HEARTBEAT_GRACE = 1.5  # ActiveMQ's hbGracePeriodMultiplier: tolerated silence = 1.5 x interval
# A peer that sent part of a frame and then nothing for this long is closed (ActiveMQ would wait
# forever unless heart-beats were negotiated).
STALL_TIMEOUT = 30.0
# A closing connection whose peer does not read its last frames is dropped after this long, so
# that its unacknowledged messages go back to the queue.
CLOSE_GRACE = 5.0
MAX_CONNECTIONS_MESSAGE = (
    "Exceeded the maximum number of allowed client connections. See the 'maximumConnections' property "
    "on the TCP transport configuration URI in the ActiveMQ configuration file (e.g., activemq.xml)"
)

# Headers with protocol meaning that are not passed through from SEND to MESSAGE (ActiveMQ maps
# expires/priority/timestamp onto message fields and writes them back from there).


@dataclass
class OutboxEntry:
    data: bytes
    waits_for: asyncio.Future[None] | None
    fenced: bool  # run the fence check before writing (confirmations without a journal future)
    close_after: bool = False


class StompTransport(asyncio.Protocol):
    """One connection's bytes; subclasses say what a frame means (``_handle``) and what the connection
    holds (``_opened``, ``_released``, ``_writable_again``, ``_connected``)."""

    def __init__(
        self,
        fence: Fence,
        log: logging.Logger,
        max_frame_size: int,
        admit: Callable[[StompTransport], bool] | None = None,
        on_closed: Callable[[StompTransport], None] | None = None,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.fence = fence
        self.log = log
        self.parser = FrameParser(V1_0, max_frame_size)
        self.version = V1_0
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self._outbox: deque[OutboxEntry] = deque()
        self._waiting_on: asyncio.Future[None] | None = None
        self._writable = True
        self._closing = False  # no more frames are processed (DISCONNECT, fatal ERROR, teardown)
        self.closed = False
        self._last_read = time.monotonic()
        self._last_write = time.monotonic()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._admit = admit
        self._admitted = False
        self._on_closed = on_closed
        self._stall_timeout = stall_timeout

    # -- what the protocol layer provides ---------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        raise NotImplementedError

    def _opened(self) -> None:
        """The connection was admitted."""

    def _released(self) -> None:
        """The connection is gone: give back what it held."""

    def _writable_again(self) -> None:
        """The peer reads again after the socket's buffer was full."""

    def _connected(self) -> bool:
        """Whether the peer has CONNECTed (the CONNECT timeout closes it otherwise)."""
        raise NotImplementedError

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if self._admit is not None and not self._admit(self):
            self._closing = True
            headers = {"message": MAX_CONNECTIONS_MESSAGE, "content-type": "text/plain"}
            transport.write(encode_frame(Frame("ERROR", headers, MAX_CONNECTIONS_MESSAGE.encode()), V1_0))
            transport.close()
            return
        self._admitted = True
        self._opened()
        loop = asyncio.get_running_loop()
        self._timers["connect"] = loop.call_later(CONNECT_TIMEOUT, self._connect_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._closing = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._released()
        if self._admitted and self._on_closed is not None:
            self._on_closed(self)

    def data_received(self, data: bytes) -> None:
        self._last_read = time.monotonic()
        if self._closing:
            return
        if self.fence.deposed:
            self.abort()
            return
        self.parser.append(data)
        while not self._closing:
            try:
                frame = self.parser.pull()
            except FrameError as exc:
                self._error(str(exc), None, fatal=True)
                return
            if frame is None:
                break
            self._handle(frame)
        if not self._closing and self.parser.mid_frame and "stall" not in self._timers:
            self._timers["stall"] = asyncio.get_running_loop().call_later(self._stall_timeout, self._check_stall)

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        if not self._closing:
            self._writable_again()

    # -- writing --------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)
            self._last_write = time.monotonic()

    def _reply(
        self,
        frame: Frame,
        waits_for: asyncio.Future[None] | None = None,
        fenced: bool = True,
        close_after: bool = False,
    ) -> None:
        self._outbox.append(OutboxEntry(encode_frame(frame, self.version), waits_for, fenced, close_after))
        self._pump()

    def _pump(self, _done: asyncio.Future[None] | None = None) -> None:
        while self._outbox and not self.closed:
            reply = self._outbox[0]
            fut = reply.waits_for
            if fut is not None:
                if not fut.done():
                    if fut is not self._waiting_on:
                        self._waiting_on = fut
                        fut.add_done_callback(self._pump)
                    return
                if fut.cancelled() or fut.exception() is not None:
                    # The journal failed or this node was deposed: confirm nothing; the server
                    # closes every connection.
                    self._closing = True
                    self._outbox.clear()
                    return
            elif reply.fenced and not self.fence.check():
                self._closing = True
                self._outbox.clear()
                return
            self._outbox.popleft()
            self._write(reply.data)
            if reply.close_after:
                self.close()
                return

    def close(self) -> None:
        """Close after the buffered data is written (or after CLOSE_GRACE if the peer does not read)."""
        self._closing = True
        if self.transport is not None and not self.closed:
            self.transport.close()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            if "close" not in self._timers:
                self._timers["close"] = loop.call_later(CLOSE_GRACE, self.abort)

    def abort(self) -> None:
        """Drop the connection at once, unsent data included (used when the term ends)."""
        self._closing = True
        self._outbox.clear()
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _error(self, message: str, receipt: str | None, fatal: bool) -> None:
        self.log.info("Client %s: %s; sending ERROR%s", self.peer, message, " and closing" if fatal else "")
        headers = {"message": message, "content-type": "text/plain"}
        if receipt is not None:
            headers["receipt-id"] = receipt
        if fatal:
            self._closing = True
        self._reply(Frame("ERROR", headers, message.encode()), fenced=False, close_after=fatal)

    # -- timers ---------------------------------------------------------------------------------

    def _connect_timeout(self) -> None:
        if not self._connected() and not self.closed:
            self.log.info("Client %s sent no CONNECT within %.0f s; closing", self.peer, CONNECT_TIMEOUT)
            self.abort()

    def _check_stall(self) -> None:
        self._timers.pop("stall", None)
        if self.closed or self._closing or not self.parser.mid_frame:
            return
        silent = time.monotonic() - self._last_read
        if silent >= self._stall_timeout:
            self._error(
                f"Incomplete frame: no data for {silent:.1f} s in the middle of a frame; closing the connection",
                None,
                fatal=True,
            )
            return
        loop = asyncio.get_running_loop()
        self._timers["stall"] = loop.call_later(self._stall_timeout - silent, self._check_stall)

    def _start_heartbeat_out(self, interval: float) -> None:
        loop = asyncio.get_running_loop()

        def tick() -> None:
            if self.closed:
                return
            if time.monotonic() - self._last_write >= interval * 0.9:
                self._write(b"\n")
            self._timers["heartbeat-out"] = loop.call_later(interval, tick)

        self._timers["heartbeat-out"] = loop.call_later(interval, tick)

    def _start_heartbeat_in(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        allowed = interval * HEARTBEAT_GRACE

        def check() -> None:
            if self.closed:
                return
            silent = time.monotonic() - self._last_read
            if silent > allowed:
                message = (
                    f"Channel was inactive for too (>{allowed * 1000:.0f}) long: no frame or heart-beat "
                    f"for {silent * 1000:.0f} ms (heart-beat {interval * 1000:.0f} ms)"
                )
                self.log.info("Client %s: %s; closing", self.peer, message)
                # The peer is probably gone: write the ERROR if the socket takes it, then drop it.
                self._write(encode_frame(Frame("ERROR", {"message": message}, message.encode()), self.version))
                self.abort()
                return
            self._timers["heartbeat-in"] = loop.call_later(max(0.05, allowed - silent), check)

        self._timers["heartbeat-in"] = loop.call_later(allowed, check)
