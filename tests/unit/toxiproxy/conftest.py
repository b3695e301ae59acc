"""Fixtures for the built-in Toxiproxy server: the server on a thread of the test process, the real
toxiproxy-python client pointed at it, and an upstream TCP server that records what reaches it.

Sockets on loopback and threads only, no processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy_wire import Upstream

from harness.toxiproxy.server import ToxiproxyServer


@pytest.fixture
def server() -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(seed=1) as running:
        yield running


@pytest.fixture
def client(server: ToxiproxyServer) -> Toxiproxy:
    toxiproxy = Toxiproxy()
    toxiproxy.update_api_consumer("127.0.0.1", server.port)
    return toxiproxy


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    made = Upstream()
    yield made
    made.close()
