"""One direction of one proxied connection, and what each toxic does to its bytes.

A connection through a proxy has two links: upstream (client to server) and downstream (server to
client). Each link reads its source into a bounded queue (so that a delayed link keeps reading, as
Toxiproxy's buffered channels do) and a pump takes each chunk through the link's toxics in the order
they were added, then writes it to the destination. A toxic "closing the link" ends its direction:
the destination socket is closed, which ends the other direction in turn, as in Toxiproxy.

Toxics act on live connections: adding, updating or removing one changes the links at once. A wait
inside a toxic (latency, bandwidth, slicer, slow_close) ends early when that toxic is updated or
removed, and the chunk it held goes on, so no byte is dropped by a change of toxics.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.toxiproxy.toxics import Stream, Toxic

READ_SIZE = 32 * 1024  # what Go's io.Copy reads at a time
QUEUE_CHUNKS = 1024  # chunks a link buffers ahead of its toxics (Toxiproxy's latency buffer)


@dataclass
class Chunk:
    data: bytes  # b"": the source closed
    read_at: float  # monotonic seconds; latency counts from here

    @property
    def eof(self) -> bool:
        return not self.data


@dataclass
class Attached:
    """A toxic as one link runs it: whether it acts on this link (toxicity), its per-link state, and
    the event that interrupts its waits when the toxic changes."""

    toxic: Toxic
    active: bool
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    transmitted: int = 0  # limit_data: bytes let through so far on this link
    owed_s: float = 0.0  # bandwidth: sleep owed by earlier chunks
    timer: asyncio.TimerHandle | None = None
    detached: bool = False


def set_linger_zero(writer: asyncio.StreamWriter) -> None:
    """Make the next close of this socket an RST (SO_LINGER on, 0 s)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def slice_offsets(size: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Cut points for slicer: halve the chunk (moved by up to ``variation``) until pieces are about ``average``.

    Toxiproxy's recursion never ends for an average of 0 and can cut outside the chunk when the
    variation is large; here every piece has at least one byte.
    """
    cuts = [0]

    def split(start: int, end: int) -> None:
        if (end - start) - average <= variation or end - start <= 1:
            cuts.append(end)
            return
        middle = start + (end - start) // 2
        if variation > 0:
            middle += rng.randrange(variation * 2) - variation
        middle = min(max(middle, start + 1), end - 1)
        split(start, middle)
        split(middle, end)

    split(0, size)
    return cuts


class Link:
    """Bytes from ``reader`` through the toxics of ``direction`` to ``writer``."""

    def __init__(
        self,
        direction: Stream,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source_writer: asyncio.StreamWriter,
        rng: random.Random,
        on_done: Callable[[], None],
    ) -> None:
        self.direction = direction
        self.reader = reader
        self.writer = writer
        self.source_writer = source_writer  # the other end's socket, for an RST on both
        self.rng = rng
        self.on_done = on_done
        self.queue: asyncio.Queue[Chunk] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        self.chain: list[Attached] = []
        self.finished = False
        self.reading_done = False
        self._pump_task: asyncio.Task[None] | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._pump_idle = False  # waiting for a chunk (not holding one inside a toxic)

    def start(self, toxics: list[Toxic]) -> None:
        for toxic in toxics:
            self.attach(toxic)
        self._read_task = asyncio.create_task(self._read())
        self._pump_task = asyncio.create_task(self._pump())

    @property
    def done(self) -> bool:
        return self.finished and self.reading_done

    # -- toxics changing while the link runs -----------------------------------------------------
    def attach(self, toxic: Toxic) -> None:
        attached = Attached(toxic, active=toxic.applies(self.rng))
        self.chain.append(attached)
        self._arm_timer(attached)

    def update(self, toxic: Toxic) -> None:
        for attached in self.chain:
            if attached.toxic is toxic:
                self._cancel_timer(attached)
                interrupt, attached.interrupt = attached.interrupt, asyncio.Event()
                attached.active = toxic.applies(self.rng)
                attached.owed_s = 0.0
                interrupt.set()
                self._arm_timer(attached)

    def detach(self, toxic: Toxic) -> None:
        for attached in list(self.chain):
            if attached.toxic is toxic:
                self.chain.remove(attached)
                attached.detached = True
                self._cancel_timer(attached)
                attached.interrupt.set()
                if toxic.type == "timeout":
                    # Toxiproxy's timeout toxic closes its links when it is removed (its Cleanup).
                    self._close_after(attached, reset=False)

    def _arm_timer(self, attached: Attached) -> None:
        toxic = attached.toxic
        if toxic.type == "timeout" and attached.active and toxic.attribute("timeout") > 0:
            attached.timer = asyncio.get_running_loop().call_later(
                toxic.attribute("timeout") / 1000, self._close_after, attached, False
            )

    @staticmethod
    def _cancel_timer(attached: Attached) -> None:
        if attached.timer is not None:
            attached.timer.cancel()
            attached.timer = None

    def _close_after(self, attached: Attached, reset: bool) -> None:
        """End the link at a toxic: what follows it in the chain sees the end of the stream."""
        if self.finished:
            return
        later = self._active_after(attached)
        if self._pump_task is not None and self._pump_task is not asyncio.current_task():
            self._pump_task.cancel()
        self._closing = asyncio.create_task(self._through(later, 0, Chunk(b"", time.monotonic()), reset=reset))

    def _active_after(self, attached: Attached) -> list[Attached]:
        if attached in self.chain:
            return [a for a in self.chain[self.chain.index(attached) + 1 :] if a.active]
        return [a for a in self.chain if a.active]

    # -- the two tasks ---------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            while True:
                try:
                    data = await self.reader.read(READ_SIZE)
                except (ConnectionError, OSError):
                    data = b""
                if self.finished:
                    if not data:
                        return
                    continue
                if data and not self.chain and self._pump_idle and self.queue.empty():
                    # No toxic and nothing in flight: straight to the destination, sparing two task
                    # switches per chunk (what a link without faults costs is most of its use).
                    await self._write(data)
                    continue
                await self.queue.put(Chunk(data, time.monotonic()))
                if not data:
                    return
        finally:
            self.reading_done = True
            self._maybe_done()

    async def _pump(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while not self.finished:
                self._pump_idle = True
                chunk = await self.queue.get()
                self._pump_idle = False
                await self._through([a for a in self.chain if a.active], 0, chunk)

    async def _through(self, stages: list[Attached], index: int, chunk: Chunk, reset: bool = False) -> None:
        """Take ``chunk`` through ``stages[index:]``, then write it (or, at the end of the stream, close)."""
        while index < len(stages) and stages[index].detached:
            index += 1
        if self.finished:
            return
        if index == len(stages):
            if chunk.eof:
                self._finish(reset)
            else:
                await self._write(chunk.data)
            return
        stage = stages[index]
        toxic = stage.toxic
        kind = toxic.type
        go_on = self._through
        if kind == "latency":
            delay_ms = toxic.attribute("latency")
            jitter = toxic.attribute("jitter")
            if jitter > 0:
                delay_ms += self.rng.randrange(jitter * 2) - jitter
            wait = chunk.read_at + delay_ms / 1000 - time.monotonic()
            await self._wait(stage, wait)
            chunk.read_at += max(0.0, wait)
            await go_on(stages, index + 1, chunk, reset)
        elif kind == "bandwidth":
            await self._bandwidth(stages, index, chunk, reset)
        elif kind == "slow_close":
            if chunk.eof:
                await self._wait(stage, toxic.attribute("delay") / 1000)
            await go_on(stages, index + 1, chunk, reset)
        elif kind == "timeout":
            if chunk.eof:
                await go_on(stages, index + 1, chunk, reset)
            # Data vanishes; the connection stays open until the timer or the toxic's removal closes it.
        elif kind == "reset_peer":
            # The first chunk (or the end) starts the countdown; then the connection is reset.
            await asyncio.sleep(max(0, toxic.attribute("timeout")) / 1000)
            await go_on(stages, index + 1, Chunk(b"", chunk.read_at), reset=True)
        elif kind == "slicer":
            await self._slicer(stages, index, chunk, reset)
        elif kind == "limit_data":
            await self._limit_data(stages, index, chunk, reset)
        else:  # pragma: no cover - toxic_from_json refuses unknown types
            await go_on(stages, index + 1, chunk, reset)

    async def _bandwidth(self, stages: list[Attached], index: int, chunk: Chunk, reset: bool) -> None:
        stage = stages[index]
        rate = stage.toxic.attribute("rate")  # KB/s = bytes per ms
        if chunk.eof:
            await self._through(stages, index + 1, chunk, reset)
            return
        if rate <= 0:
            # Toxiproxy never lets a byte through at rate 0 (its loop sends empty slices forever); the
            # data goes on when the toxic is updated or removed.
            await self._wait(stage, None)
            await self._through(stages, index + 1, chunk, reset)
            return
        data = chunk.data
        stage.owed_s += len(data) / (rate * 1000)
        step = rate * 100  # bytes per 100 ms: a slow rate sends large chunks in pieces
        while len(data) > step:
            if await self._wait(stage, 0.1):
                break
            await self._through(stages, index + 1, Chunk(data[:step], chunk.read_at), reset)
            data = data[step:]
            stage.owed_s -= 0.1
        started = time.monotonic()
        await self._wait(stage, stage.owed_s)
        stage.owed_s -= time.monotonic() - started
        await self._through(stages, index + 1, Chunk(data, chunk.read_at), reset)

    async def _slicer(self, stages: list[Attached], index: int, chunk: Chunk, reset: bool) -> None:
        stage = stages[index]
        if chunk.eof:
            await self._through(stages, index + 1, chunk, reset)
            return
        toxic = stage.toxic
        average, variation = toxic.attribute("average_size"), toxic.attribute("size_variation")
        cuts = slice_offsets(len(chunk.data), average, variation, self.rng)
        for i in range(1, len(cuts)):
            await self._through(stages, index + 1, Chunk(chunk.data[cuts[i - 1] : cuts[i]], chunk.read_at), reset)
            if await self._wait(stage, toxic.attribute("delay") / 1_000_000):
                rest = chunk.data[cuts[i] :]
                if rest:
                    await self._through(stages, index + 1, Chunk(rest, chunk.read_at), reset)
                return

    async def _limit_data(self, stages: list[Attached], index: int, chunk: Chunk, reset: bool) -> None:
        stage = stages[index]
        if chunk.eof:
            await self._through(stages, index + 1, chunk, reset)
            return
        limit = stage.toxic.attribute("bytes")
        remaining = max(0, limit - stage.transmitted)
        data = chunk.data[:remaining]
        if data:
            await self._through(stages, index + 1, Chunk(data, chunk.read_at), reset)
            stage.transmitted += len(data)
        if limit - stage.transmitted <= 0:
            await self._through(stages, index + 1, Chunk(b"", chunk.read_at), reset)

    @staticmethod
    async def _wait(stage: Attached, seconds: float | None) -> bool:
        """Sleep, or less if the toxic changes; True if it was interrupted."""
        if seconds is not None and seconds <= 0:
            return stage.interrupt.is_set()
        try:
            await asyncio.wait_for(stage.interrupt.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _write(self, data: bytes) -> None:
        if self.writer.transport.is_closing():  # the destination is gone; its other direction ends the pair
            self._finish(reset=False)
            return
        try:
            self.writer.write(data)
            if self.writer.transport.get_write_buffer_size() > 0:  # the socket took less than all of it
                await self.writer.drain()
        except (ConnectionError, OSError):
            self._finish(reset=False)

    def _finish(self, reset: bool) -> None:
        """Close the destination (with an RST for reset_peer); the other direction ends when it reads the close."""
        if self.finished:
            return
        self.finished = True
        for attached in self.chain:
            self._cancel_timer(attached)
        if reset:
            set_linger_zero(self.writer)
            set_linger_zero(self.source_writer)
            self.writer.transport.abort()
        else:
            self.writer.close()
        while not self.queue.empty():  # a reader blocked on a full queue must not wait forever
            self.queue.get_nowait()
        if self._pump_task is not None and self._pump_task is not asyncio.current_task():
            self._pump_task.cancel()
        self._maybe_done()

    def stop(self) -> None:
        """The proxy is going down: close both sockets (Toxiproxy closes every connection)."""
        self._finish(reset=False)
        self.source_writer.close()

    def _maybe_done(self) -> None:
        if self.done:
            self.on_done()
