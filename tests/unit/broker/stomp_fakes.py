"""A STOMP connection on a fake transport, driven frame by frame inside a private event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from harness.broker.core.auth import Authenticator
from harness.broker.core.broker import Broker, CoreSettings
from harness.broker.fence import Fence
from harness.broker.stomp.frames import V1_0, V1_2, Frame, FrameParser, encode_frame
from harness.broker.stomp.protocol import ConnectionContext, StompConnection

from .broker_fakes import FakeStore, FakeTransport, ManualClock


class Env:
    """A broker core, its fence and a connection context, as one master term has them."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        auto_resolve: bool = True,
        settings: CoreSettings | None = None,
        authentication: Authenticator | None = None,
    ) -> None:
        self.loop = loop
        self.epoch = 5
        self.deposed: list[str] = []
        self.fence = Fence(5, lambda: self.epoch, self.deposed.append)
        self.store = FakeStore(loop, auto_resolve)
        self.clock = ManualClock()
        self.broker = Broker("t", 5, self.store, self.fence.check, loop, settings, clock=self.clock)
        self.ctx = ConnectionContext(
            self.broker,
            self.fence,
            logging.getLogger("test"),
            session_prefix="ID:t-5",
            authentication=authentication,
            scheduler_support=settings is not None and settings.scheduler_support,
        )

    def connect(self, version: str | None = V1_2, heart_beat: str | None = None, **extra: str) -> Client:
        client = Client(self, version)
        headers = {} if version is None else {"accept-version": version}
        if heart_beat is not None:
            headers["heart-beat"] = heart_beat
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        client.send(Frame("CONNECT", headers))
        return client

    def settle(self) -> None:
        for _ in range(5):
            self.loop.run_until_complete(asyncio.sleep(0))

    def advance(self, seconds: float) -> None:
        """Move the broker's clock and run what became due (redeliveries, scheduled messages, expiry)."""
        self.clock.advance(seconds)
        self.call(self.broker.tick)

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Run protocol callbacks inside the loop, as asyncio would."""

        async def inside() -> None:
            fn(*args)

        self.loop.run_until_complete(inside())
        self.settle()


class Client:
    """One connection on a fake transport; ``frames()`` parses everything the broker wrote to it."""

    def __init__(
        self,
        env: Env,
        version: str | None,
        max_frame_size: int = 1 << 20,
        stall_timeout: float = 30,
        admit: Callable[[StompConnection], bool] | None = None,
    ) -> None:
        self.env = env
        self.version = version or V1_0
        self.conn = StompConnection(env.ctx, max_frame_size, admit=admit, stall_timeout=stall_timeout)
        self.transport = FakeTransport()
        self.transport.protocol = self.conn
        env.call(self.conn.connection_made, self.transport)

    def send(self, frame: Frame) -> None:
        self.env.call(self.conn.data_received, encode_frame(frame, self.version))

    def raw(self, data: bytes) -> None:
        self.env.call(self.conn.data_received, data)

    def frames(self) -> list[Frame]:
        return FrameParser(self.version).feed(bytes(self.transport.data))

    def commands(self) -> list[str]:
        return [f.command for f in self.frames()]

    def last(self) -> Frame:
        return self.frames()[-1]

    def messages(self) -> list[Frame]:
        return [f for f in self.frames() if f.command == "MESSAGE"]

    def subscribe(self, destination: str, sub_id: str = "s", ack: str = "client-individual", **headers: str) -> None:
        self.send(Frame("SUBSCRIBE", {"destination": destination, "id": sub_id, "ack": ack, **headers}))

    def ack(self, message: Frame, command: str = "ACK", **headers: str) -> None:
        self.send(Frame(command, {"id": message.headers["ack"], **headers}))
