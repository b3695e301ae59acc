"""The built-in Toxiproxy server in a container of the base image (the docker runtime's run server),
driven through toxiproxy-python from the host: it relays on the host's network and its toxics act."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import docker
import pytest

from harness.toxiproxy.links import LinkProxies, toxiproxy_for_run

pytestmark = pytest.mark.integration


@pytest.fixture
def echo() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()


def test_the_container_server_relays_and_applies_toxics_then_goes(base_image: str, echo: int) -> None:
    with toxiproxy_for_run(container_image=base_image) as proxies:
        assert isinstance(proxies, LinkProxies)
        link = proxies.create("echo", ("127.0.0.1", echo))
        with socket.create_connection((link.listen_host, link.listen_port), timeout=5) as conn:
            conn.sendall(b"hi")
            assert conn.recv(10) == b"hi"
            link.add_toxic("latency", {"latency": 300})
            started = time.monotonic()
            conn.sendall(b"x")
            assert conn.recv(10) == b"x"
            assert time.monotonic() - started >= 0.3, "the latency toxic did not act in the container's server"
        containers = docker.from_env().containers.list(filters={"label": "org.amq-harness.node=toxiproxy"})
        assert containers, "the server is not running in a container"
        name = containers[0].name
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(name)
