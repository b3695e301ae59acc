"""Test doubles for the broker core and connection unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from harness.broker.core import Subscription
from harness.broker.frames import V1_2, Frame, FrameParser
from harness.broker.journal import Op
from harness.broker.message import Message


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
        self.open = True

    def deliver(self, subscription: Subscription, message: Message) -> None:
        self.received.append((subscription.sub_id, message))

    def can_receive(self) -> bool:
        return self.open

    def bodies(self) -> list[bytes]:
        return [m.body for _, m in self.received]


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
