"""A single pybroker process: persistence across kill -9, redelivery, graceful stop, throughput."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from broker_procs import BrokerNode, Client

pytestmark = pytest.mark.integration

Nodes = Callable[..., BrokerNode]
Clients = Callable[..., Client]


def test_receipted_persistent_messages_survive_kill9(nodes: Nodes, clients: Clients) -> None:
    node = nodes("solo").start()
    node.wait_master()
    producer = clients(node.port)
    for i in range(50):
        assert producer.send("/queue/p", f"p{i}")
    for i in range(10):
        assert producer.send("/queue/p", f"n{i}", persistent=False)
    # A consumer sees the first messages but never acks them: they must come back with the same ids.
    peek = clients(node.port)
    peek.subscribe("/queue/p", **{"activemq.prefetchSize": "5"})
    seen = {body: headers["message-id"] for headers, body in peek.wait_messages(5)}
    assert len(seen) == 5
    node.kill9()

    node.start()
    node.wait_log(r"is now master \(epoch 2\)")
    assert "Recovered 50 messages" in node.log()
    consumer = clients(node.port)
    bodies = consumer.drain("/queue/p")
    assert bodies == [f"p{i}" for i in range(50)]  # all persistent ones, in order; non-persistent lost
    for headers, body in consumer.messages:
        assert headers["persistent"] == "true"
        if body in seen:
            assert headers["message-id"] == seen[body]


def test_unacked_messages_are_redelivered_and_acked_ones_are_not(nodes: Nodes, clients: Clients) -> None:
    node = nodes("solo").start()
    node.wait_master()
    producer = clients(node.port)
    for i in range(6):
        assert producer.send("/queue/r", f"m{i}")
    first = clients(node.port)
    first.subscribe("/queue/r")
    messages = first.wait_messages(6)
    assert [body for _, body in messages] == [f"m{i}" for i in range(6)]
    assert all("redelivered" not in headers for headers, _ in messages)
    first.ack(messages[0][0])
    first.ack(messages[3][0])
    first.close()

    second = clients(node.port)
    second.subscribe("/queue/r", ack="client-individual", sub_id="again")
    again = second.wait_messages(4)
    assert [body for _, body in again] == ["m1", "m2", "m4", "m5"]
    assert all(headers.get("redelivered") == "true" for headers, _ in again)
    second.ack(again[0][0])  # m1, with a receipt: it must not come back after a crash
    node.kill9()

    node.start()
    node.wait_log(r"is now master \(epoch 2\)")
    assert clients(node.port).drain("/queue/r") == ["m2", "m4", "m5"]


def test_sigterm_stops_gracefully_and_hands_over(nodes: Nodes, clients: Clients) -> None:
    first = nodes("first").start()
    first.wait_master()
    second = nodes("second").start()
    second.wait_log("slave mode")
    producer = clients(first.port)
    assert producer.send("/queue/g", "kept")
    assert first.terminate() == 0
    assert "Broker first stopped" in first.log()
    second.wait_master(timeout=5)
    assert clients(second.port).drain("/queue/g") == ["kept"]


async def _producer(port: int, count: int, index: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
    await reader.readuntil(b"\x00")
    for i in range(count):
        body = f"p{index}-{i}".encode()
        writer.write(
            b"SEND\ndestination:/queue/bench\npersistent:true\nreceipt:%d\ncontent-length:%d\n\n%s\x00"
            % (i, len(body), body)
        )
        frame = await reader.readuntil(b"\x00")
        assert frame.startswith(b"RECEIPT"), frame
    writer.close()
    return count


def test_throughput_of_receipted_persistent_sends(nodes: Nodes, capsys: pytest.CaptureFixture[str]) -> None:
    node = nodes("bench").start()
    node.wait_master()
    producers, per_producer = 8, 500

    async def run() -> float:
        start = time.monotonic()
        done = await asyncio.gather(*(_producer(node.port, per_producer, k) for k in range(producers)))
        assert sum(done) == producers * per_producer
        return time.monotonic() - start

    elapsed = asyncio.run(run())
    rate = producers * per_producer / elapsed
    with capsys.disabled():
        print(f"\npybroker: {rate:.0f} receipted persistent sends/s ({producers} producers, group commit)")
    assert rate > 500
