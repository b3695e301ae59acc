"""Every endpoint of the built-in server's Toxiproxy API, driven through the unmodified toxiproxy-python
client where it has a call for it, and with plain HTTP for the rest (PATCH, /populate, toxic updates).
Status codes and error bodies are Toxiproxy's (api.go)."""

from __future__ import annotations

import json
import socket

import pytest
import requests
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy_wire import Upstream, connect, receive_exactly, wait_until

from harness.toxiproxy.server import ToxiproxyServer


def _error(exc: Exception) -> dict[str, object]:
    body = exc.args[0]
    assert isinstance(body, bytes), f"expected the server's body, got {body!r}"
    return dict(json.loads(body))


def test_version_answers_json(client: Toxiproxy) -> None:
    assert client.running()
    assert json.loads(client.version())["version"]


def test_created_proxy_listens_on_a_real_port_and_relays(client: Toxiproxy, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    host, _, port = proxy.listen.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0, proxy.listen
    assert proxy.enabled is True
    with connect(proxy.listen) as conn:
        conn.sendall(b"hello")
        assert receive_exactly(conn, 5) == b"hello"
    listed = client.proxies()
    assert set(listed) == {"db"}
    assert listed["db"].listen == proxy.listen and listed["db"].upstream == upstream.address


def test_show_lists_the_proxy_with_its_toxics(client: Toxiproxy, server: ToxiproxyServer, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    proxy.add_toxic(type="latency", attributes={"latency": 5})
    shown = requests.get(f"{server.url}/proxies/db", timeout=5).json()
    assert shown == {
        "name": "db",
        "listen": proxy.listen,
        "upstream": upstream.address,
        "enabled": True,
        "toxics": [
            {
                "attributes": {"latency": 5, "jitter": 0},
                "name": "latency_downstream",
                "type": "latency",
                "stream": "downstream",
                "toxicity": 1,
            }
        ],
    }


def test_a_duplicate_name_is_409(client: Toxiproxy, server: ToxiproxyServer, upstream: Upstream) -> None:
    client.create(upstream=upstream.address, name="db")
    answer = requests.post(f"{server.url}/proxies", json={"name": "db", "upstream": upstream.address}, timeout=5)
    assert answer.status_code == 409
    assert answer.json() == {"error": "proxy already exists", "status": 409}
    with pytest.raises(ProxyExists):  # the client checks the list first, then the server would say 409
        client.create(upstream=upstream.address, name="db")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
        ({"name": "x", "upstream": "127.0.0.1:1", "enabled": "yes"}, "bad request body"),
    ],
)
def test_a_bad_proxy_body_is_400(server: ToxiproxyServer, body: dict[str, object], message: str) -> None:
    answer = requests.post(f"{server.url}/proxies", json=body, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(message), answer.text
    assert answer.json()["status"] == 400


def test_an_empty_body_is_400_eof(server: ToxiproxyServer) -> None:
    answer = requests.post(f"{server.url}/proxies", data=b"", timeout=5)
    assert (answer.status_code, answer.json()["error"]) == (400, "bad request body: EOF")


def test_an_address_in_use_is_500_with_the_bind_error(server: ToxiproxyServer, upstream: Upstream) -> None:
    answer = requests.post(
        f"{server.url}/proxies", json={"name": "x", "listen": upstream.address, "upstream": "127.0.0.1:1"}, timeout=5
    )
    assert answer.status_code == 500
    assert answer.json()["error"] == f"listen tcp {upstream.address}: bind: address already in use"


def test_unknown_proxy_is_404(client: Toxiproxy, server: ToxiproxyServer) -> None:
    answer = requests.get(f"{server.url}/proxies/nothing", timeout=5)
    assert (answer.status_code, answer.json()) == (404, {"error": "proxy not found", "status": 404})
    assert requests.delete(f"{server.url}/proxies/nothing", timeout=5).status_code == 404


def test_delete_is_204_and_frees_the_port(client: Toxiproxy, server: ToxiproxyServer, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    assert client.destroy(proxy) is True
    assert client.proxies() == {}
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen, timeout=1)
    with pytest.raises(NotFound) as gone:
        proxy.destroy()
    assert _error(gone.value) == {"error": "proxy not found", "status": 404}


def test_disabled_proxy_closes_its_connections_and_refuses_new_ones(client: Toxiproxy, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    conn = connect(proxy.listen)
    conn.sendall(b"a")
    assert receive_exactly(conn, 1) == b"a"
    with proxy.down():
        assert conn.recv(10) == b"", "a live connection must be closed when the proxy goes down"
        assert client.proxies()["db"].enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.listen, timeout=1)
    with connect(proxy.listen) as again:  # the same address serves again
        again.sendall(b"b")
        assert receive_exactly(again, 1) == b"b"
    conn.close()


def test_a_proxy_created_disabled_listens_once_enabled(server: ToxiproxyServer, upstream: Upstream) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    listen = f"127.0.0.1:{free}"
    body = {"name": "db", "listen": listen, "upstream": upstream.address, "enabled": False}
    created = requests.post(f"{server.url}/proxies", json=body, timeout=5)
    assert created.status_code == 201 and created.json()["enabled"] is False
    with pytest.raises(ConnectionRefusedError):
        connect(listen, timeout=1)
    patched = requests.patch(f"{server.url}/proxies/db", json={"enabled": True}, timeout=5)
    assert patched.status_code == 200 and patched.json()["enabled"] is True
    connect(listen).close()


def test_update_moves_the_upstream(client: Toxiproxy, server: ToxiproxyServer, upstream: Upstream) -> None:
    other = Upstream()
    try:
        proxy = client.create(upstream=upstream.address, name="db")
        answer = requests.post(f"{server.url}/proxies/db", json={"upstream": other.address}, timeout=5)
        assert answer.json()["upstream"] == other.address and answer.json()["listen"] == proxy.listen
        with connect(proxy.listen) as conn:
            conn.sendall(b"x")
            assert receive_exactly(conn, 1) == b"x"
        assert other.received == b"x" and upstream.received == b""
    finally:
        other.close()


def test_populate_creates_keeps_unchanged_and_validates_first(server: ToxiproxyServer, upstream: Upstream) -> None:
    url = f"{server.url}/populate"
    first = requests.post(url, json=[{"name": "a", "listen": "127.0.0.1:0", "upstream": upstream.address}], timeout=5)
    assert first.status_code == 201
    [created] = first.json()["proxies"]
    requests.post(f"{server.url}/proxies/a/toxics", json={"type": "latency"}, timeout=5)
    same = [{"name": "a", "listen": created["listen"], "upstream": upstream.address}]
    again = requests.post(url, json=same, timeout=5)
    assert again.json()["proxies"][0]["toxics"], "an unchanged proxy is kept, toxics and all"
    bad = requests.post(url, json=[{"name": "b", "upstream": upstream.address}, {"upstream": "x:1"}], timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"] == "missing required field: name at proxy 2"
    assert set(requests.get(f"{server.url}/proxies", timeout=5).json()) == {"a"}, "nothing created on a bad body"


def test_reset_enables_every_proxy_and_removes_every_toxic(client: Toxiproxy, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()
    assert client.reset() is True
    after = client.proxies()["db"]
    assert after.enabled is True and after.toxics() == {}


def test_toxic_endpoints(client: Toxiproxy, server: ToxiproxyServer, upstream: Upstream) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    assert proxy.toxics() == {}
    created = requests.post(
        f"{server.url}/proxies/db/toxics", json={"type": "bandwidth", "attributes": {"rate": 50}}, timeout=5
    )
    assert created.status_code == 200
    assert created.json() == {
        "attributes": {"rate": 50},
        "name": "bandwidth_downstream",
        "type": "bandwidth",
        "stream": "downstream",
        "toxicity": 1,
    }
    shown = requests.get(f"{server.url}/proxies/db/toxics/bandwidth_downstream", timeout=5).json()
    assert shown == created.json()
    updated = requests.patch(
        f"{server.url}/proxies/db/toxics/bandwidth_downstream",
        json={"attributes": {"rate": 7}, "toxicity": 0.5},
        timeout=5,
    ).json()
    assert (updated["attributes"], updated["toxicity"]) == ({"rate": 7}, 0.5)
    toxic = proxy.get_toxic("bandwidth_downstream")
    assert toxic is not None and toxic.attributes == {"rate": 7}
    assert proxy.destroy_toxic("bandwidth_downstream") is True
    assert proxy.toxics() == {}
    missing = requests.get(f"{server.url}/proxies/db/toxics/bandwidth_downstream", timeout=5)
    assert (missing.status_code, missing.json()) == (404, {"error": "toxic not found", "status": 404})


@pytest.mark.parametrize(
    ("toxic", "status", "message"),
    [
        ({"type": "earthquake"}, 400, "invalid toxic type"),
        ({"type": "latency", "stream": "sideways"}, 400, "stream was invalid, can be either upstream or downstream"),
        ({"type": "latency", "attributes": {"latency": "slow"}}, 400, "bad request body"),
        ({"type": "latency", "attributes": {"latency": 1.5}}, 400, "bad request body"),
    ],
)
def test_a_bad_toxic_is_refused(
    client: Toxiproxy, upstream: Upstream, toxic: dict[str, object], status: int, message: str
) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    with pytest.raises(InvalidToxic) as refused:
        proxy.add_toxic(**toxic)
    error = _error(refused.value)
    assert error["status"] == status and str(error["error"]).startswith(message), error


def test_a_duplicate_toxic_is_409_across_streams(
    client: Toxiproxy, server: ToxiproxyServer, upstream: Upstream
) -> None:
    client.create(upstream=upstream.address, name="db")
    url = f"{server.url}/proxies/db/toxics"
    assert requests.post(url, json={"type": "latency", "name": "slow"}, timeout=5).status_code == 200
    again = requests.post(url, json={"type": "latency", "name": "slow", "stream": "upstream"}, timeout=5)
    assert (again.status_code, again.json()) == (409, {"error": "toxic already exists", "status": 409})
    both = requests.post(url, json={"type": "latency", "stream": "upstream"}, timeout=5)
    assert both.json()["name"] == "latency_upstream"


def test_browsers_are_turned_away_and_unknown_routes_are_404_or_405(server: ToxiproxyServer) -> None:
    browser = requests.get(f"{server.url}/proxies", headers={"User-Agent": "Mozilla/5.0"}, timeout=5)
    assert browser.status_code == 403
    assert requests.get(f"{server.url}/nowhere", timeout=5).status_code == 404
    assert requests.delete(f"{server.url}/proxies", timeout=5).status_code == 405


def test_connections_lists_the_upstream_side_of_each_connection(
    client: Toxiproxy, server: ToxiproxyServer, upstream: Upstream
) -> None:
    proxy = client.create(upstream=upstream.address, name="db")
    with connect(proxy.listen) as conn:
        conn.sendall(b"x")
        receive_exactly(conn, 1)
        listed = requests.get(f"{server.url}/proxies/db/connections", timeout=5).json()
        peer_ports = {c.getpeername()[1] for c in upstream.connections}
        assert {int(c["upstream_local"].rpartition(":")[2]) for c in listed} == peer_ports
    assert wait_until(lambda: requests.get(f"{server.url}/proxies/db/connections", timeout=5).json() == [])
