"""Link faults on a real proxy of the built-in server (on a thread): each one sets its toxic, or takes the
proxy down, on injection, is recorded in the history, and leaves the proxy clean when healed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from toxiproxy_wire import Upstream, connect, receive_exactly

from harness.faults import Bandwidth, Blackhole, LimitData, LinkCut, Nemesis, ResetPeer, Slicer, SlowLink
from harness.faults.base import Fault
from harness.history import FAULT_END, FAULT_START, History
from harness.toxiproxy.links import LinkProxies, LinkProxyError, ProxiedLink
from harness.toxiproxy.server import ToxiproxyServer


@pytest.fixture
def proxies(server: ToxiproxyServer) -> Iterator[LinkProxies]:
    made = LinkProxies(server.url)
    yield made
    made.close()


@pytest.fixture
def link(proxies: LinkProxies, upstream: Upstream) -> ProxiedLink:
    return proxies.create("amq1.postgresql", ("127.0.0.1", upstream.port))


def _fault_records(history: History) -> list[str]:
    return [op.f for op in history if op.f in (FAULT_START, FAULT_END)]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda link: SlowLink("amq1", link, 200), {"latency": ("latency", {"latency": 200, "jitter": 0})}),
        (lambda link: Blackhole("amq1", link), {"timeout": ("timeout", {"timeout": 0})}),
        (lambda link: Bandwidth("amq1", link, 5), {"bandwidth": ("bandwidth", {"rate": 5})}),
        (lambda link: LimitData("amq1", link, 10), {"limit_data": ("limit_data", {"bytes": 10})}),
        (
            lambda link: Slicer("amq1", link, 8, 2, 100),
            {"slicer": ("slicer", {"average_size": 8, "size_variation": 2, "delay": 100})},
        ),
    ],
    ids=["slow", "blackhole", "bandwidth", "limit-data", "slicer"],
)
def test_a_toxic_fault_sets_one_toxic_each_way_and_heal_removes_them(
    proxies: LinkProxies, link: ProxiedLink, make: object, expected: dict[str, tuple[str, dict[str, int]]]
) -> None:
    history = History()
    assert callable(make)
    fault: Fault = make(link)
    with Nemesis(history).inject(fault):
        toxics = proxies.toxics(link.name)
        assert sorted(t["stream"] for t in toxics.values()) == ["downstream", "upstream"]
        [(toxic_type, attributes)] = expected.values()
        assert all(t["type"] == toxic_type and t["attributes"] == attributes for t in toxics.values()), toxics
    assert proxies.toxics(link.name) == {}
    assert _fault_records(history) == [FAULT_START, FAULT_END]


def test_reset_peer_acts_downstream_by_default(proxies: LinkProxies, link: ProxiedLink) -> None:
    with Nemesis(History()).inject(ResetPeer("amq1", link, after_ms=50)):
        assert [t["stream"] for t in proxies.toxics(link.name).values()] == ["downstream"]
    assert proxies.toxics(link.name) == {}


def test_an_upstream_only_blackhole_is_one_toxic(proxies: LinkProxies, link: ProxiedLink) -> None:
    with Nemesis(History()).inject(Blackhole("amq1", link, streams="upstream")):
        assert [t["stream"] for t in proxies.toxics(link.name).values()] == ["upstream"]


def test_link_cut_closes_and_refuses_until_healed(link: ProxiedLink) -> None:
    conn = connect(link.listen)
    with Nemesis(History()).inject(LinkCut("amq1", link)):
        assert conn.recv(10) == b"", "a live connection must end when the link is cut"
        with pytest.raises(ConnectionRefusedError):
            connect(link.listen, timeout=1)
    with connect(link.listen) as again:
        again.sendall(b"ok")
        assert receive_exactly(again, 2) == b"ok"
    conn.close()


def test_upstream_ports_name_the_connections_to_the_upstream(link: ProxiedLink, upstream: Upstream) -> None:
    conns: list[socket.socket] = [connect(link.listen) for _ in range(2)]
    try:
        for conn in conns:
            conn.sendall(b"x")
            receive_exactly(conn, 1)
        assert link.upstream_ports() == {c.getpeername()[1] for c in upstream.connections}
    finally:
        for conn in conns:
            conn.close()


def test_a_blackholed_connection_closed_by_an_end_is_seen_closed(link: ProxiedLink, upstream: Upstream) -> None:
    """How a scenario sees a broker notice a hung bridge: the connection it held through the blackhole
    leaves the proxy's list once an end closes it, and not before."""
    conn = connect(link.listen)
    conn.sendall(b"x")
    receive_exactly(conn, 1)
    held = link.upstream_ports()
    with Nemesis(History()) as nemesis:
        nemesis.inject(Blackhole("amq1", link))
        assert link.seconds_until_closed(held, timeout=0.3) is None  # bytes vanish, the connection stays
        conn.close()  # the broker's side gives up on it
        noticed = link.seconds_until_closed(held, timeout=10)
    assert noticed is not None and link.upstream_ports().isdisjoint(held)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda link: SlowLink("amq1", link, 0), "latency_ms must be > 0"),
        (lambda link: Bandwidth("amq1", link, -1), "rate_kb_s must be >= 0"),
        (lambda link: Slicer("amq1", link, 10, 10), "size_variation must be in"),
        (lambda link: Blackhole("amq1", link, streams="sideways"), "streams must be"),  # type: ignore[arg-type]
    ],
)
def test_bad_fault_settings_are_refused_before_anything_is_injected(
    link: ProxiedLink, make: object, message: str
) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=message):
        make(link)


def test_a_refused_toxic_is_an_error_that_names_the_server_and_the_proxy(proxies: LinkProxies) -> None:
    with pytest.raises(LinkProxyError, match="no proxy named 'nowhere'"):
        proxies.add_toxic("nowhere", "latency", {"latency": 1})
    with pytest.raises(LinkProxyError, match="has no attribute rate"):
        proxies.add_toxic("nowhere", "latency", {"rate": 1})


def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(LinkProxyError, match=f"127.0.0.1:{port}"):
        LinkProxies(f"http://127.0.0.1:{port}").version()
