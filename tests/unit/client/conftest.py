"""Fixtures for the client's unit tests: fake STOMP servers and clients that always disconnect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.client import FailoverConnection

from .fake_stomp_server import FakeStompServer


@pytest.fixture
def servers() -> Iterator[Callable[[str], FakeStompServer]]:
    """Factory of started fake servers, all stopped at the end of the test."""
    started: list[FakeStompServer] = []

    def make(name: str) -> FakeStompServer:
        server = FakeStompServer(name).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server_a(servers: Callable[[str], FakeStompServer]) -> FakeStompServer:
    return servers("a")


@pytest.fixture
def server_b(servers: Callable[[str], FakeStompServer]) -> FakeStompServer:
    return servers("b")


@pytest.fixture
def clients() -> Iterator[Callable[..., FailoverConnection]]:
    """Factory of FailoverConnections (not yet connected), all disconnected at the end of the test."""
    made: list[FailoverConnection] = []

    def make(uri: str, **kwargs: Any) -> FailoverConnection:
        kwargs.setdefault("connect_timeout", 2.0)
        client = FailoverConnection(uri, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.disconnect(timeout=1.0)
