"""Fixtures for pybroker integration tests: real broker processes, reaped even when a test fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from broker_procs import BrokerNode, Client, Features

from harness.services.database import DatabaseRef, DatabaseServer, start_server


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[..., BrokerNode]]:
    """Factory: ``nodes(name, store=None, keep_alive=1000, interval=1000, persistent=True, features=None,
    render=None)``.

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
        render: Callable[[str, int, Path], str] | None = None,
    ) -> BrokerNode:
        store = store or tmp_path / "shared" / "kahadb"
        node = BrokerNode(tmp_path, name, store, keep_alive, interval, persistent, features, render)
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


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def db_server(request: pytest.FixtureRequest) -> Iterator[DatabaseServer]:
    """A throwaway database server per test module and database kind; reaped at the end."""
    server = start_server(request.param)
    try:
        yield server
    finally:
        server.reap()


@pytest.fixture
def database(db_server: DatabaseServer) -> DatabaseRef:
    """An empty database of its own for each test."""
    return db_server.create_database()


@pytest.fixture
def own_db_server() -> Iterator[Callable[[str], DatabaseServer]]:
    """Factory for a server a test may stop and start (database outages); reaped at the end."""
    started: list[DatabaseServer] = []

    def make(kind: str) -> DatabaseServer:
        server = start_server(kind)
        started.append(server)
        return server

    yield make
    for server in started:
        server.reap()
