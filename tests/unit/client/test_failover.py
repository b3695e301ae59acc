"""FailoverConnection against in-process fake STOMP servers: connect, failover, resubscribe, resend."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.client import (
    AckFailed,
    BrokerError,
    ConnectFailed,
    ConnectionLost,
    Delivery,
    ErrorFrame,
    FailoverConnection,
    FailoverListener,
    SendFailed,
    SendTimeout,
    StaleDelivery,
)

from .fake_stomp_server import FakeStompServer

Clients = Callable[..., FailoverConnection]


def failover(*servers: FakeStompServer, query: str = "randomize=false") -> str:
    return f"failover:({','.join(s.uri for s in servers)})?{query}"


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class Inbox:
    """A subscription handler that keeps what it gets."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    def __call__(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def bodies(self) -> list[str]:
        with self._lock:
            return [d.text for d in self.deliveries]

    def wait(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        wait_until(lambda: len(self.deliveries) >= count, timeout, f"{count} deliveries (have {self.bodies()})")
        with self._lock:
            return list(self.deliveries)


class Recorder(FailoverListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.errors: list[BaseException | None] = []

    def transport_interrupted(self, endpoint: str, error: BaseException | None) -> None:
        self.events.append(("interrupted", endpoint))
        self.errors.append(error)

    def transport_resumed(self, endpoint: str) -> None:
        self.events.append(("resumed", endpoint))

    def on_error(self, frame: ErrorFrame) -> None:
        self.events.append(("error", frame.message))


# --- connecting ---


def test_connects_to_the_first_broker_without_randomize(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    assert client.connected
    assert client.current_endpoint == server_a.endpoint
    connect = server_a.received("CONNECT")[0]
    assert connect.headers["accept-version"] == "1.2"


def test_connect_passes_login_passcode_and_headers(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a), login="u", passcode="p", headers={"client-id": "c1"})
    client.connect(timeout=5)
    headers = server_a.received("CONNECT")[0].headers
    assert (headers["login"], headers["passcode"], headers["client-id"]) == ("u", "p", "c1")


def test_startup_skips_a_dead_broker(server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients) -> None:
    server_a.stop()
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    assert client.current_endpoint == server_b.endpoint


def test_startup_skips_a_silent_broker_after_the_connect_timeout(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.silent = True
    client = clients(failover(server_a, server_b), connect_timeout=0.3)
    client.connect(timeout=5)
    assert client.current_endpoint == server_b.endpoint


def test_startup_max_reconnect_attempts_exhausted_raises_connect_failed(
    server_a: FakeStompServer, clients: Clients
) -> None:
    server_a.stop()
    client = clients(failover(server_a, query="startupMaxReconnectAttempts=3&initialReconnectDelay=1"))
    started = time.monotonic()
    with pytest.raises(ConnectFailed, match=r"after 3 attempt\(s\).*refused"):
        client.connect(timeout=5)
    assert time.monotonic() - started < 2
    with pytest.raises(ConnectionLost):
        client.send("/queue/q", "x")


def test_bare_tcp_uri_tries_once(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.stop()
    with pytest.raises(ConnectFailed, match=r"after 1 attempt"):
        clients(server_a.uri).connect(timeout=5)


def test_connect_timeout_argument_raises_connect_failed(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.stop()
    client = clients(failover(server_a))
    with pytest.raises(ConnectFailed, match=r"not connected within 0\.3 s"):
        client.connect(timeout=0.3)
    assert client.state == "closed"


def test_error_on_connect_counts_as_a_failed_attempt(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.refuse_connect = "bad credentials"
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    assert client.current_endpoint == server_b.endpoint


def test_operations_before_connect_are_refused(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    with pytest.raises(Exception, match="call connect"):
        client.send("/queue/q", "x")


# --- sending ---


def test_send_is_persistent_with_receipt_and_names_the_confirming_broker(
    server_a: FakeStompServer, clients: Clients
) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    result = client.send("/queue/q", "héllo", headers={"seq": "1"})
    assert result.endpoint == server_a.endpoint
    assert result.transmissions == 1 and not result.resent
    frame = server_a.received("SEND")[0]
    assert frame.headers["persistent"] == "true"
    assert frame.headers["receipt"] == result.receipt_id
    assert frame.headers["seq"] == "1"
    assert frame.body == "héllo".encode()


def test_non_persistent_send_has_no_persistent_header(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    client.send("/queue/q", b"\x00binary\x00", persistent=False)
    frame = server_a.received("SEND")[0]
    assert "persistent" not in frame.headers
    assert frame.body == b"\x00binary\x00"


def test_header_values_with_colons_survive_a_resend(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.withhold_receipts = {"SEND"}
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(client.send("/queue/q", "x", headers={"k": "a:b\\c"})))
    thread.start()
    server_a.wait_for(lambda: len(server_a.received("SEND")) == 1, what="the first SEND")
    server_a.stop()
    thread.join(5)
    assert server_b.received("SEND")[0].headers["k"] == "a:b\\c"


def test_unconfirmed_send_is_resent_to_the_next_broker(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.withhold_receipts = {"SEND"}
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(client.send("/queue/q", "m1")))
    thread.start()
    server_a.wait_for(lambda: len(server_a.received("SEND")) == 1, what="the SEND on a")
    server_a.stop()
    thread.join(5)
    assert results, "send did not complete after failover"
    assert results[0].endpoint == server_b.endpoint
    assert results[0].transmissions == 2 and results[0].resent
    # A resend is a new message: both brokers got it (the duplicate the history will show).
    assert server_a.stored("/queue/q") == [b"m1"]
    assert server_b.stored("/queue/q") == [b"m1"]


def test_send_while_disconnected_waits_for_the_reconnect(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_b.stop()
    client = clients(failover(server_a, server_b, query="randomize=false&initialReconnectDelay=50"))
    client.connect(timeout=5)
    server_a.stop()
    wait_until(lambda: not client.connected, what="the client to notice")
    threading.Timer(0.3, server_b.restart).start()
    result = client.send("/queue/q", "late", timeout=5)
    assert result.endpoint == server_b.endpoint
    assert result.transmissions == 1


def test_send_timeout_from_uri_keeps_the_connection(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.withhold_receipts = {"SEND"}
    client = clients(failover(server_a, query="timeout=200"))
    client.connect(timeout=5)
    started = time.monotonic()
    with pytest.raises(SendTimeout, match="outcome unknown"):
        client.send("/queue/q", "slow")
    assert 0.15 < time.monotonic() - started < 2
    assert client.connected
    server_a.withhold_receipts = set()
    assert client.send("/queue/q", "fast").endpoint == server_a.endpoint


def test_send_timeout_argument_overrides_the_uri(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.withhold_receipts = {"SEND"}
    client = clients(failover(server_a, query="timeout=60000"))
    client.connect(timeout=5)
    with pytest.raises(SendTimeout):
        client.send("/queue/q", "slow", timeout=0.1)


def test_timed_out_send_is_not_resent_after_failover(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.withhold_receipts = {"SEND"}
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    with pytest.raises(SendTimeout):
        client.send("/queue/q", "gone", timeout=0.1)
    server_a.stop()
    wait_until(lambda: client.current_endpoint == server_b.endpoint, what="failover to b")
    client.send("/queue/q", "next")
    assert server_b.stored("/queue/q") == [b"next"]


def test_error_frame_answering_a_send_raises_send_failed(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.refuse_destinations["/queue/forbidden"] = "User u is not authorized to write to: queue://forbidden"
    recorder = Recorder()
    client = clients(failover(server_a), listener=recorder)
    client.connect(timeout=5)
    with pytest.raises(SendFailed, match="not authorized") as info:
        client.send("/queue/forbidden", "x")
    assert info.value.headers["receipt-id"]
    wait_until(lambda: ("error", info.value.message) in recorder.events, what="on_error callback")


def test_exhausted_reconnects_fail_pending_and_new_sends_with_connection_lost(
    server_a: FakeStompServer, clients: Clients
) -> None:
    server_a.withhold_receipts = {"SEND"}
    client = clients(failover(server_a, query="maxReconnectAttempts=2&initialReconnectDelay=1"))
    client.connect(timeout=5)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            client.send("/queue/q", "doomed")
        except ConnectionLost as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    server_a.wait_for(lambda: len(server_a.received("SEND")) == 1, what="the SEND")
    server_a.stop()
    thread.join(5)
    assert len(errors) == 1, "the pending send should fail with ConnectionLost"
    assert "after 2 attempt(s)" in str(errors[0])
    with pytest.raises(ConnectionLost):
        client.send("/queue/q", "after")
    assert client.state == "failed"


def test_max_reconnect_attempts_zero_never_reconnects(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    client = clients(failover(server_a, server_b, query="randomize=false&maxReconnectAttempts=0"))
    client.connect(timeout=5)
    server_a.drop_connections()
    wait_until(lambda: client.state == "failed", what="the client to give up")
    assert server_b.connections_accepted == 0


# --- subscribing and acking ---


def test_subscription_is_made_with_receipt_and_delivers_on_the_dispatch_thread(
    server_a: FakeStompServer, clients: Clients
) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    threads: list[str] = []
    inbox = Inbox()

    def handler(delivery: Delivery) -> None:
        threads.append(threading.current_thread().name)
        inbox(delivery)

    sub = client.subscribe("/queue/q", handler, id="s1", headers={"activemq.prefetchSize": "1"})
    assert sub.id == "s1" and sub.ack == "client-individual"
    assert server_a.subscriptions() == [("s1", "/queue/q", "client-individual")]
    assert server_a.received("SUBSCRIBE")[0].headers["activemq.prefetchSize"] == "1"
    server_a.publish("/queue/q", "hello", {"seq": "3"})
    (delivery,) = inbox.wait(1)
    assert delivery.text == "hello" and delivery.headers["seq"] == "3"
    assert delivery.endpoint == server_a.endpoint
    assert delivery.subscription == "s1" and delivery.destination == "/queue/q"
    assert delivery.ack_id.startswith("a-ack-") and delivery.message_id.startswith("ID:a-")
    assert not delivery.redelivered
    assert threads == ["client-dispatch"]


def test_ack_12_names_the_ack_header_and_waits_for_the_receipt(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox)
    server_a.publish("/queue/q", "m")
    (delivery,) = inbox.wait(1)
    client.ack(delivery)
    ack = server_a.received("ACK")[0]
    assert ack.headers["id"] == delivery.ack_id
    assert "receipt" in ack.headers


@pytest.mark.parametrize(("version", "expected"), [("1.1", {"message-id", "subscription"}), ("1.0", {"message-id"})])
def test_ack_headers_for_older_versions(
    server_a: FakeStompServer, clients: Clients, version: str, expected: set[str]
) -> None:
    client = clients(failover(server_a), version=version)
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox, id="s1")
    server_a.publish("/queue/q", "m")
    (delivery,) = inbox.wait(1)
    assert delivery.ack_id == delivery.message_id
    client.ack(delivery)
    headers = server_a.received("ACK")[0].headers
    assert set(headers) - {"receipt"} == expected
    assert headers["message-id"] == delivery.message_id


def test_nack_and_ack_without_receipt(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox)
    server_a.publish("/queue/q", "1")
    server_a.publish("/queue/q", "2")
    first, second = inbox.wait(2)
    client.nack(first)
    client.ack(second, receipt=False)
    server_a.wait_for(lambda: len(server_a.received("ACK")) == 1, what="the ACK")
    assert "receipt" not in server_a.received("ACK")[0].headers
    assert server_a.received("NACK")[0].headers["id"] == first.ack_id


def test_ack_waits_for_receipt_and_times_out(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.withhold_receipts = {"ACK"}
    client = clients(failover(server_a))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox)
    server_a.publish("/queue/q", "m")
    (delivery,) = inbox.wait(1)
    with pytest.raises(TimeoutError):
        client.ack(delivery, timeout=0.1)


def test_error_answering_an_ack_raises_ack_failed(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox)
    server_a.publish("/queue/q", "m")
    (delivery,) = inbox.wait(1)
    server_a.refuse_commands["ACK"] = "unknown ack id"
    with pytest.raises(AckFailed, match="unknown ack id"):
        client.ack(delivery, timeout=5)


def test_subscriptions_are_remade_after_failover_with_same_id_destination_ack_and_headers(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    recorder = Recorder()
    client = clients(failover(server_a, server_b), listener=recorder)
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox, ack="client", id="orders", headers={"selector": "a = 1"})
    client.subscribe("/topic/t", inbox, ack="auto", id="news")
    server_a.stop()
    wait_until(lambda: client.current_endpoint == server_b.endpoint, what="failover to b")
    assert sorted(server_b.subscriptions()) == [
        ("news", "/topic/t", "auto"),
        ("orders", "/queue/q", "client"),
    ]
    remade = {f.headers["id"]: f.headers for f in server_b.received("SUBSCRIBE")}
    assert remade["orders"]["selector"] == "a = 1"
    server_b.publish("/queue/q", "from b")
    (delivery,) = inbox.wait(1)
    assert delivery.endpoint == server_b.endpoint
    wait_until(lambda: len(recorder.events) >= 2, what="listener events")
    assert recorder.events[:2] == [("interrupted", server_a.endpoint), ("resumed", server_b.endpoint)]


def test_ack_of_a_delivery_from_a_dead_connection_raises_stale_delivery(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox)
    server_a.publish("/queue/q", "m")
    (delivery,) = inbox.wait(1)
    server_a.drop_connections()
    wait_until(lambda: client.current_endpoint == server_b.endpoint, what="failover to b")
    with pytest.raises(StaleDelivery, match="will redeliver"):
        client.ack(delivery)
    assert server_b.received("ACK") == []


def test_ack_in_flight_when_the_connection_drops_raises_stale_delivery(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.withhold_receipts = {"ACK"}
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox)
    server_a.publish("/queue/q", "m")
    (delivery,) = inbox.wait(1)
    threading.Timer(0.2, server_a.drop_connections).start()
    with pytest.raises(StaleDelivery, match="outcome unknown"):
        client.ack(delivery, timeout=5)


def test_redelivered_flag_is_reported(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a, query="randomize=false&initialReconnectDelay=1"))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox)
    server_a.publish("/queue/q", "m")
    inbox.wait(1)
    server_a.drop_connections()
    deliveries = inbox.wait(2)
    assert deliveries[1].redelivered and deliveries[1].text == "m"
    assert deliveries[1].generation != deliveries[0].generation


def test_handler_may_send_and_ack_with_receipts_without_deadlock(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    done = threading.Event()

    def handler(delivery: Delivery) -> None:
        client.send("/queue/out", f"reply to {delivery.text}", timeout=3)
        client.ack(delivery, timeout=3)
        done.set()

    client.subscribe("/queue/in", handler)
    server_a.publish("/queue/in", "ping")
    assert done.wait(5), "handler blocked: receipts must not need the dispatch thread"
    assert server_a.stored("/queue/out") == [b"reply to ping"]


def test_unsubscribe_stops_deliveries_and_is_not_remade(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    client = clients(failover(server_a, server_b))
    client.connect(timeout=5)
    inbox = Inbox()
    client.subscribe("/queue/q", inbox, id="s1")
    client.unsubscribe("s1")
    assert server_a.received("UNSUBSCRIBE")[0].headers["id"] == "s1"
    assert server_a.subscriptions() == []
    server_a.stop()
    wait_until(lambda: client.current_endpoint == server_b.endpoint, what="failover to b")
    assert server_b.received("SUBSCRIBE") == []
    with pytest.raises(Exception, match="no subscription"):
        client.unsubscribe("s1")


def test_refused_subscription_raises_and_is_forgotten(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.refuse_commands["SUBSCRIBE"] = "not authorized to read"
    client = clients(failover(server_a))
    client.connect(timeout=5)
    with pytest.raises(BrokerError, match="not authorized"):
        client.subscribe("/queue/q", Inbox(), id="s1")
    assert client.subscriptions == []


def test_listener_may_implement_only_some_callbacks(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    resumed: list[str] = []

    class OnlyResumed:
        def transport_resumed(self, endpoint: str) -> None:
            resumed.append(endpoint)

    client = clients(failover(server_a, server_b), listener=OnlyResumed())
    client.connect(timeout=5)
    server_a.stop()
    wait_until(lambda: resumed == [server_b.endpoint], what="transport_resumed")


def test_subscribe_before_connect_is_made_on_connect(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    inbox = Inbox()
    client.subscribe("/queue/q", inbox, id="early")
    client.connect(timeout=5)
    assert server_a.subscriptions() == [("early", "/queue/q", "client-individual")]


# --- detection, priority, logging ---


def test_heartbeat_timeout_triggers_failover(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.heartbeat_ms = 50
    server_b.heartbeat_ms = 50
    recorder = Recorder()
    client = clients(failover(server_a, server_b), heartbeats=(0, 50), listener=recorder)
    client.connect(timeout=5)
    assert client.current_endpoint == server_a.endpoint
    server_a.silent = True
    wait_until(lambda: client.current_endpoint == server_b.endpoint, timeout=5, what="heartbeat failover")
    wait_until(lambda: bool(recorder.errors), what="transport_interrupted")
    assert "heartbeat timeout" in str(recorder.errors[0])


def test_priority_backup_switches_back_when_the_priority_broker_returns(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    server_a.stop()
    recorder = Recorder()
    client = clients(
        failover(server_a, server_b, query="randomize=false&priorityBackup=true&maxReconnectDelay=100"),
        listener=recorder,
    )
    client.connect(timeout=5)
    assert client.current_endpoint == server_b.endpoint
    inbox = Inbox()
    client.subscribe("/queue/q", inbox, id="s1")
    server_a.restart()
    wait_until(lambda: client.current_endpoint == server_a.endpoint, timeout=5, what="switch back to a")
    assert server_a.subscriptions() == [("s1", "/queue/q", "client-individual")]
    server_b.wait_for(lambda: server_b.open_connections == 0, what="b to be left")
    assert server_b.received("DISCONNECT"), "the non-priority broker should be left gracefully"
    assert client.send("/queue/q", "x").endpoint == server_a.endpoint
    assert ("resumed", server_a.endpoint) in recorder.events


def test_one_log_line_per_interrupt_and_resume(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    client = clients(failover(server_a, server_b), client_id="p1")
    client.connect(timeout=5)
    with caplog.at_level(logging.INFO, logger="harness.client"):
        server_a.stop()
        wait_until(lambda: client.current_endpoint == server_b.endpoint, what="failover to b")
    lines = [r.getMessage() for r in caplog.records if r.name == "harness.client"]
    assert [line for line in lines if "interrupted" in line] == [
        f"p1: transport interrupted: lost {server_a.endpoint} (connection closed by the broker)"
    ]
    resumed = [line for line in lines if "resumed" in line]
    assert len(resumed) == 1 and resumed[0].startswith(f"p1: transport resumed on {server_b.endpoint} after ")


# --- threads and shutdown ---


def test_concurrent_senders_survive_repeated_failovers(
    server_a: FakeStompServer, server_b: FakeStompServer, clients: Clients
) -> None:
    recorder = Recorder()
    client = clients(failover(server_a, server_b, query="randomize=false&initialReconnectDelay=1"), listener=recorder)
    client.connect(timeout=5)
    results: list[Any] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def producer(name: str) -> None:
        i = 0
        while not stop.is_set():
            try:
                results.append((f"{name}-{i}", client.send("/queue/q", f"{name}-{i}", timeout=10)))
            except Exception as exc:
                errors.append(exc)
            i += 1

    def more_than(count: int) -> Callable[[], bool]:
        return lambda: len(results) > count

    threads = [threading.Thread(target=producer, args=(f"p{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        for server in (server_a, server_b):
            wait_until(more_than(len(results) + 20), what="sends between faults")
            server.drop_connections()
    stop.set()
    for thread in threads:
        thread.join(20)
    assert not errors
    assert sum(1 for kind, _ in recorder.events if kind == "interrupted") >= 5
    stored = {body.decode() for body in server_a.stored("/queue/q") + server_b.stored("/queue/q")}
    confirmed = {body for body, _ in results}
    assert confirmed <= stored, f"receipted but never stored: {sorted(confirmed - stored)[:5]}"
    assert {result.endpoint for _, result in results} == {server_a.endpoint, server_b.endpoint}


def test_disconnect_is_graceful_idempotent_and_refuses_later_operations(
    server_a: FakeStompServer, clients: Clients
) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    client.disconnect()
    client.disconnect()
    assert server_a.received("DISCONNECT")
    assert not client.connected
    with pytest.raises(ConnectionLost):
        client.send("/queue/q", "x")
    threads = [t.name for t in threading.enumerate()]
    assert "client-failover" not in threads and "client-dispatch" not in threads


def test_disconnect_fails_waiting_sends(server_a: FakeStompServer, clients: Clients) -> None:
    server_a.withhold_receipts = {"SEND"}
    client = clients(failover(server_a))
    client.connect(timeout=5)
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(errors, lambda: client.send("/queue/q", "x")))
    thread.start()
    server_a.wait_for(lambda: bool(server_a.received("SEND")), what="the SEND")
    client.disconnect(timeout=0.2)
    thread.join(5)
    assert len(errors) == 1 and isinstance(errors[0], ConnectionLost)


def test_disconnect_from_a_handler_does_not_hang(server_a: FakeStompServer, clients: Clients) -> None:
    client = clients(failover(server_a))
    client.connect(timeout=5)
    done = threading.Event()

    def handler(delivery: Delivery) -> None:
        client.disconnect()
        done.set()

    client.subscribe("/queue/q", handler)
    server_a.publish("/queue/q", "stop")
    assert done.wait(5)


def test_disconnect_without_connect_is_safe(server_a: FakeStompServer) -> None:
    FailoverConnection(failover(server_a)).disconnect()


def test_context_manager_connects_and_disconnects(server_a: FakeStompServer) -> None:
    with FailoverConnection(failover(server_a)) as client:
        assert client.connected
    assert not client.connected
    assert server_a.received("DISCONNECT")


def _capture(errors: list[BaseException], operation: Callable[[], object]) -> None:
    try:
        operation()
    except BaseException as exc:
        errors.append(exc)
