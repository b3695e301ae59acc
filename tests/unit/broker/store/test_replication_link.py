"""The replication link's batching: frames sent in one turn of the event loop leave in one write, and a
slave's acknowledgements of one turn become one ACK for the highest write (loopback sockets)."""

from __future__ import annotations

import asyncio

from harness.broker.store.replication_protocol import Acknowledger, Frame, Kind, Link, read_frame


async def _pair() -> tuple[Link, asyncio.StreamReader, asyncio.Server]:
    accepted: asyncio.Future[asyncio.StreamReader] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(reader)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return Link(reader, writer, silence_s=2.0), await accepted, server


def test_frames_of_one_turn_leave_in_order_in_one_write() -> None:
    async def scenario() -> list[Frame]:
        link, peer, server = await _pair()
        writes: list[bytes] = []
        original = link.writer.write
        link.writer.write = lambda data: (writes.append(bytes(data)), original(data))[1]  # type: ignore[method-assign]
        for seq in (1, 2, 3):
            link.send(Frame(Kind.WAL, {"seq": seq}, b"x"))
        assert writes == [], "nothing is written before the turn ends"
        frames = [await read_frame(peer) for _ in range(3)]
        assert len(writes) == 1, f"expected one write for three frames, saw {len(writes)}"
        link.abort()
        server.close()
        return frames

    frames = asyncio.run(scenario())
    assert [f.header["seq"] for f in frames] == [1, 2, 3]


def test_an_error_frame_sent_just_before_an_abort_is_written() -> None:
    async def scenario() -> Frame:
        link, peer, server = await _pair()
        link.send(Frame(Kind.ERROR, {"message": "master term 3 is over"}))
        link.abort()
        frame = await read_frame(peer)
        server.close()
        return frame

    assert asyncio.run(scenario()).header == {"message": "master term 3 is over"}


def test_acknowledgements_of_one_turn_become_one_ack_for_the_highest_write() -> None:
    async def scenario() -> list[int]:
        link, peer, server = await _pair()
        acks = Acknowledger(link)
        for seq in (4, 5, 6):
            acks.ack(seq)
        await asyncio.sleep(0.05)
        acks.ack(6)  # nothing new: no frame
        acks.ack(7)
        first, second = await read_frame(peer), await read_frame(peer)
        link.abort()
        server.close()
        return [first.header["seq"], second.header["seq"]]

    assert asyncio.run(scenario()) == [6, 7]
