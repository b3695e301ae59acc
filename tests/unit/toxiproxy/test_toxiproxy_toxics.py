"""What each toxic does to the bytes on the wire, measured through the built-in server with the toxic
set by the unmodified toxiproxy-python client: delays, rates, closes, resets, slices and limits.

Figures are printed (``-s``) so a run shows what was measured; bounds are the toxic's own promise
(a lower bound: at least the latency asked for) with generous room above for a busy machine.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.proxy import Proxy
from toxiproxy_wire import Upstream, connect, receive_exactly, wait_until

SLACK_S = 1.0  # room above a promised delay for a loaded 2-core machine


@pytest.fixture
def proxy(client: Toxiproxy, upstream: Upstream) -> Proxy:
    return client.create(upstream=upstream.address, name="link")


@pytest.fixture
def conn(proxy: Proxy) -> Iterator[socket.socket]:
    made = connect(proxy.listen)
    made.sendall(b"?")  # the connection is up and relaying before any toxic is set
    assert receive_exactly(made, 1) == b"?"
    yield made
    made.close()


def _round_trip(conn: socket.socket, payload: bytes = b"ping") -> float:
    started = time.monotonic()
    conn.sendall(payload)
    assert receive_exactly(conn, len(payload)) == payload
    return time.monotonic() - started


def test_latency_delays_the_chosen_stream_only(proxy: Proxy, conn: socket.socket, upstream: Upstream) -> None:
    base = _round_trip(conn)
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    sent = time.monotonic()
    rtt = _round_trip(conn)
    reached_upstream = upstream.reads[-1][0] - sent
    print(
        f"latency 300 ms downstream: round trip {rtt * 1000:.0f} ms (without {base * 1000:.1f} ms), "
        f"upstream saw the bytes after {reached_upstream * 1000:.1f} ms"
    )
    assert 0.3 <= rtt < 0.3 + SLACK_S
    assert reached_upstream < 0.2, "a downstream latency must not delay what goes upstream"


def test_upstream_latency_delays_what_reaches_the_server(proxy: Proxy, conn: socket.socket, upstream: Upstream) -> None:
    proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 250})
    sent = time.monotonic()
    conn.sendall(b"x")
    assert wait_until(lambda: upstream.received.endswith(b"?x"))
    delay = upstream.reads[-1][0] - sent
    print(f"latency 250 ms upstream: the server read the byte after {delay * 1000:.0f} ms")
    assert 0.25 <= delay < 0.25 + SLACK_S


def test_jitter_spreads_the_delay_around_the_latency(proxy: Proxy, conn: socket.socket) -> None:
    proxy.add_toxic(type="latency", attributes={"latency": 200, "jitter": 100})
    delays = [_round_trip(conn) for _ in range(8)]
    print("latency 200 ms jitter 100 ms: round trips " + ", ".join(f"{d * 1000:.0f}" for d in delays) + " ms")
    assert min(delays) >= 0.1
    assert max(delays) < 0.3 + SLACK_S
    assert max(delays) - min(delays) > 0.01, "jitter must vary the delay"


def test_latency_delays_each_chunk_without_serialising_them(proxy: Proxy, conn: socket.socket) -> None:
    proxy.add_toxic(type="latency", attributes={"latency": 200})
    started = time.monotonic()
    for i in range(20):
        conn.sendall(bytes([i]))
        time.sleep(0.005)
    assert receive_exactly(conn, 20) == bytes(range(20))
    elapsed = time.monotonic() - started
    print(f"20 chunks under 200 ms latency arrived in order after {elapsed * 1000:.0f} ms")
    assert elapsed < 20 * 0.2 / 2, "chunks in flight must be delayed together, not one after another"


def test_bandwidth_limits_the_rate(proxy: Proxy, conn: socket.socket) -> None:
    proxy.add_toxic(type="bandwidth", attributes={"rate": 100})  # KB/s (1000 bytes)
    payload = bytes(range(256)) * 200  # 51,200 bytes
    started = time.monotonic()
    conn.sendall(payload)
    assert receive_exactly(conn, len(payload)) == payload
    elapsed = time.monotonic() - started
    rate = len(payload) / elapsed / 1000
    print(f"bandwidth 100 KB/s: {len(payload)} bytes in {elapsed * 1000:.0f} ms = {rate:.0f} KB/s")
    assert 0.9 * len(payload) / 100_000 <= elapsed < len(payload) / 100_000 + SLACK_S


def test_bandwidth_zero_holds_the_bytes_until_the_toxic_goes(proxy: Proxy, conn: socket.socket) -> None:
    proxy.add_toxic(type="bandwidth", attributes={"rate": 0})
    conn.sendall(b"held")
    conn.settimeout(0.4)
    with pytest.raises(TimeoutError):
        conn.recv(10)
    proxy.destroy_toxic("bandwidth_downstream")
    conn.settimeout(5)
    assert receive_exactly(conn, 4) == b"held"


def test_slow_close_delays_the_close(proxy: Proxy, conn: socket.socket, upstream: Upstream) -> None:
    proxy.add_toxic(type="slow_close", attributes={"delay": 400})
    started = time.monotonic()
    upstream.hang_up()
    assert conn.recv(10) == b""
    delay = time.monotonic() - started
    print(f"slow_close 400 ms: the client saw the close after {delay * 1000:.0f} ms")
    assert 0.4 <= delay < 0.4 + SLACK_S


def test_timeout_zero_is_a_blackhole_until_removed(proxy: Proxy, conn: socket.socket, upstream: Upstream) -> None:
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    proxy.add_toxic(type="timeout", stream="downstream", attributes={"timeout": 0})
    conn.sendall(b"lost")
    conn.settimeout(0.5)
    with pytest.raises(TimeoutError):  # nothing comes back, and the connection stays open
        conn.recv(10)
    assert upstream.received == b"?", "bytes under a blackhole must vanish"
    conn.settimeout(5)
    proxy.destroy_toxic("timeout_upstream")
    # As in Toxiproxy, removing a timeout toxic closes the connections it held.
    assert conn.recv(10) == b""


def test_timeout_closes_the_connection_after_its_time(proxy: Proxy, conn: socket.socket, upstream: Upstream) -> None:
    started = time.monotonic()
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 300})
    conn.sendall(b"lost")
    assert conn.recv(10) == b""
    closed_after = time.monotonic() - started
    print(f"timeout 300 ms: data dropped, connection closed after {closed_after * 1000:.0f} ms")
    assert 0.3 <= closed_after < 0.3 + SLACK_S
    assert upstream.received == b"?"


def test_reset_peer_resets_both_ends(proxy: Proxy, conn: socket.socket, upstream: Upstream) -> None:
    proxy.add_toxic(type="reset_peer", attributes={"timeout": 100})
    started = time.monotonic()
    conn.sendall(b"x")  # echoed: the downstream bytes start the countdown
    with pytest.raises(ConnectionResetError):
        while conn.recv(10):
            pass
    after = time.monotonic() - started
    print(f"reset_peer 100 ms: connection reset after {after * 1000:.0f} ms")
    assert 0.1 <= after < 0.1 + SLACK_S
    assert upstream.ended.wait(5)
    assert upstream.end_error == "ConnectionResetError", "the server side must see a reset too"


def test_slicer_cuts_the_stream_into_small_delayed_pieces(
    proxy: Proxy, conn: socket.socket, upstream: Upstream
) -> None:
    proxy.add_toxic(
        type="slicer", stream="upstream", attributes={"average_size": 10, "size_variation": 4, "delay": 20_000}
    )
    payload = bytes(range(200))
    before = len(upstream.reads)
    conn.sendall(payload)
    assert receive_exactly(conn, len(payload)) == payload
    reads = upstream.reads[before:]
    sizes = [len(data) for _, data in reads]
    gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(reads))
    median_gap = gaps[len(gaps) // 2]
    print(f"slicer 10±4 bytes, 20 ms: {len(sizes)} reads of {sizes}, median gap {median_gap * 1000:.0f} ms")
    assert len(sizes) >= 200 // 15
    assert max(sizes) <= 14 + 10, "pieces are about the average size"
    assert median_gap >= 0.015


def test_limit_data_closes_after_the_limit(proxy: Proxy, conn: socket.socket) -> None:
    proxy.add_toxic(type="limit_data", attributes={"bytes": 100})
    conn.sendall(b"a" * 300)
    received = b""
    while chunk := conn.recv(1000):
        received += chunk
    print(f"limit_data 100 bytes: {len(received)} bytes then the close")
    assert received == b"a" * 100


def test_toxicity_zero_never_applies(proxy: Proxy, conn: socket.socket) -> None:
    proxy.add_toxic(type="latency", toxicity=0.0, attributes={"latency": 2000})
    fresh = connect(proxy.listen)
    try:
        assert _round_trip(fresh) < 1.0 and _round_trip(conn) < 1.0
    finally:
        fresh.close()


def test_removing_latency_releases_a_held_chunk_at_once(proxy: Proxy, conn: socket.socket) -> None:
    proxy.add_toxic(type="latency", attributes={"latency": 5000})
    started = time.monotonic()
    conn.sendall(b"x")
    time.sleep(0.2)
    proxy.destroy_toxic("latency_downstream")
    assert receive_exactly(conn, 1) == b"x"
    assert time.monotonic() - started < 2.0, "a removed toxic must not keep the byte it held"


def test_an_upstream_only_blackhole_leaves_the_other_way_open(
    proxy: Proxy, conn: socket.socket, upstream: Upstream
) -> None:
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    conn.sendall(b"lost")
    time.sleep(0.3)
    assert upstream.received == b"?"
    upstream.connections[0].sendall(b"still here")
    assert receive_exactly(conn, 10) == b"still here"
