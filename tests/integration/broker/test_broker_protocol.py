"""End-to-end STOMP with stomp.py against a real pybroker process: each version, memory-only mode."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import stomp
from broker_procs import BrokerNode, Client

pytestmark = pytest.mark.integration

Nodes = Callable[..., BrokerNode]
Clients = Callable[..., Client]


class Collector(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.frames: list[tuple[str, dict[str, str], str]] = []

    def _add(self, kind: str, frame: Any) -> None:
        with self.cond:
            self.frames.append((kind, dict(frame.headers), frame.body))
            self.cond.notify_all()

    def on_message(self, frame: Any) -> None:
        self._add("MESSAGE", frame)

    def on_receipt(self, frame: Any) -> None:
        self._add("RECEIPT", frame)

    def on_error(self, frame: Any) -> None:
        self._add("ERROR", frame)

    def wait(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[tuple[dict[str, str], str]]:
        with self.cond:
            self.cond.wait_for(lambda: sum(k == kind for k, _, _ in self.frames) >= count, timeout)
            return [(h, b) for k, h, b in self.frames if k == kind]


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_send_subscribe_ack_per_version(nodes: Nodes, version: str) -> None:
    node = nodes("proto").start()
    node.wait_master()
    cls = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
    conn = cls([("127.0.0.1", node.port)])
    listener = Collector()
    conn.set_listener("", listener)
    try:
        conn.connect(wait=True)
        conn.send("/queue/v", "hello: world", headers={"persistent": "true", "x-app": "a:b", "receipt": "s1"})
        listener.wait("RECEIPT")
        if version == "1.0":
            conn.subscribe("/queue/v", ack="client", headers={"id": "sub"})
        else:
            conn.subscribe("/queue/v", id="sub", ack="client")
        [(headers, body)] = listener.wait("MESSAGE")
        assert body == "hello: world"
        assert headers["x-app"] == "a:b"
        assert headers["persistent"] == "true"
        assert headers["destination"] == "/queue/v"
        assert headers["message-id"].startswith("ID:proto-1-")
        if version == "1.2":
            conn.ack(headers["ack"], receipt="a1")
        elif version == "1.1":
            conn.ack(headers["message-id"], "sub", receipt="a1")
        else:
            conn.ack(headers["message-id"], receipt="a1")
        receipts = listener.wait("RECEIPT", 2)
        assert [h["receipt-id"] for h, _ in receipts] == ["s1", "a1"]
        assert not listener.wait("ERROR", timeout=0.1)
    finally:
        conn.disconnect()


def test_memory_only_broker_needs_no_store(nodes: Nodes, clients: Clients) -> None:
    node = nodes("mem", persistent=False).start()
    node.wait_master()
    assert "no store and no lock" in node.log()
    producer = clients(node.port)
    assert producer.send("/queue/m", "one")
    assert clients(node.port).drain("/queue/m") == ["one"]
    assert node.terminate() == 0
