"""Which Toxiproxy a run uses: the user's (--toxiproxy URL or AMQ_HARNESS_TOXIPROXY), driven through
toxiproxy-python like the built-in one, and left as it was found."""

from __future__ import annotations

import socket

import pytest

from harness.toxiproxy.links import ENVIRONMENT_VARIABLE, LinkProxyError, toxiproxy_for_run
from harness.toxiproxy.server import ToxiproxyServer


def test_a_given_server_is_used_and_its_proxies_removed_at_the_end(server: ToxiproxyServer) -> None:
    with toxiproxy_for_run(server.url) as proxies:
        assert proxies.url == server.url
        proxies.create("amq1.clients", ("127.0.0.1", 1))
        assert set(server.api.proxies) == {"amq1.clients"}
    assert server.api.proxies == {}, "the run must remove the proxies it made on a user's server"


def test_the_environment_names_the_server(server: ToxiproxyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"127.0.0.1:{server.port}")
    with toxiproxy_for_run() as proxies:
        assert proxies.url == server.url


def test_a_server_that_does_not_answer_fails_the_run_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(LinkProxyError, match=f"127.0.0.1:{port}"), toxiproxy_for_run(f"http://127.0.0.1:{port}"):
        pass


def test_an_address_without_a_port_is_refused() -> None:
    with pytest.raises(LinkProxyError, match="HOST:PORT"), toxiproxy_for_run("http://toxiproxy"):
        pass
