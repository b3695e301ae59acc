"""Fixtures for pybroker integration tests: real broker processes, reaped even when a test fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from broker_procs import BrokerNode, Client, Features


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[..., BrokerNode]]:
    """Factory: ``nodes(name, store=None, keep_alive=1000, interval=1000, persistent=True, features=None)``.

    Every process started is reaped at the end of the test, whatever happened.
    """
    started: list[BrokerNode] = []

    def make(
        name: str,
        store: Path | None = None,
        keep_alive: int = 1000,
        interval: int = 1000,
        persistent: bool = True,
        features: Features | None = None,
    ) -> BrokerNode:
        store = store or tmp_path / "shared" / "kahadb"
        node = BrokerNode(tmp_path, name, store, keep_alive, interval, persistent, features)
        started.append(node)
        return node

    yield make
    errors: list[BaseException] = []
    for node in started:
        try:
            node.reap()
        except BaseException as exc:  # keep reaping the others
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    opened: list[Client] = []

    def make(port: int, connect: bool = True) -> Client:
        client = Client(port, connect)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()
