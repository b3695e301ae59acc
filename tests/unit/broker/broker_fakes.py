"""Test doubles for the broker core and connection unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from harness.broker.core.broker import Broker, CoreSettings, Subscription
from harness.broker.message import Message
from harness.broker.stomp.frames import V1_2, Frame, FrameParser
from harness.broker.store.contract import Op


class FakeStore:
    """Records journaled operations; futures stay pending until ``resolve``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, auto_resolve: bool = True) -> None:
        self.loop = loop
        self.auto_resolve = auto_resolve
        self.records: list[list[Op]] = []
        self.futures: list[asyncio.Future[None]] = []

    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]:
        self.records.append(list(ops))
        fut: asyncio.Future[None] = self.loop.create_future()
        self.futures.append(fut)
        if self.auto_resolve:
            fut.set_result(None)
        return fut

    def resolve(self, exc: Exception | None = None) -> None:
        for fut in self.futures:
            if not fut.done():
                if exc is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(exc)


class FakeClient:
    def __init__(self) -> None:
        self.received: list[tuple[str, Message]] = []
        self.first_of_group: list[bool] = []  # JMSXGroupFirstForConsumer of each delivery
        self.redelivered: list[bool] = []  # redelivered flag of each delivery
        self.browse_ends: list[str] = []
        self.open = True

    def deliver(self, subscription: Subscription, message: Message) -> None:
        self.received.append((subscription.sub_id, message))
        self.first_of_group.append(message.group_first)
        self.redelivered.append(message.redelivered)

    def can_receive(self) -> bool:
        return self.open

    def browse_end(self, subscription: Subscription) -> None:
        self.browse_ends.append(subscription.sub_id)

    def bodies(self) -> list[bytes]:
        return [m.body for _, m in self.received]

    def last(self) -> Message:
        return self.received[-1][1]


class ManualClock:
    """A wall clock the test moves by hand (seconds since the epoch, like time.time)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def ms(self) -> int:
        return int(self.now * 1000)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.closed = False
        self.aborted = False
        self.protocol: Any = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.data += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.protocol is not None:
                asyncio.get_event_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def frames(self, version: str = V1_2) -> list[Frame]:
        return FrameParser(version).feed(bytes(self.data))


class CoreEnv:
    """A broker core on a private event loop with a fake journal and a hand-moved clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop, settings: CoreSettings | None = None) -> None:
        self.loop = loop
        self.store = FakeStore(loop)
        self.clock = ManualClock()
        self.fence_ok = True
        self.broker = Broker("t", 7, self.store, lambda: self.fence_ok, loop, settings, clock=self.clock)

    def settle(self) -> None:
        for _ in range(4):
            self.loop.run_until_complete(asyncio.sleep(0))

    def send(self, body: str, dest: str = "/queue/a", persistent: bool = True, **fields: Any) -> None:
        headers = fields.pop("headers", {})
        self.broker.send(dest, dict(headers), body.encode(), persistent, **fields)

    def advance(self, seconds: float) -> None:
        """Move the clock and run what became due (scheduled deliveries, expiry), then dispatch."""
        self.clock.advance(seconds)
        self.broker.tick()
        self.settle()

    def ops(self) -> list[Op]:
        return [op for record in self.store.records for op in record]
