"""The workload's message groups and exclusive consumers: what producers send and what consumers record."""

from __future__ import annotations

from typing import Any

from harness.client.records import ClientSubscription, Delivery, SendResult
from harness.faults.base import Nemesis
from harness.history import History, MessageKey
from harness.workload import Workload, WorkloadOptions
from harness.workload.runner import Consumer, Producer


class NoCluster:
    """Just enough of a cluster for a workload that is not run."""

    def endpoint_names(self) -> dict[str, str]:
        return {"127.0.0.1:61613": "amq1"}


class AckingConnection:
    """Stands in for a FailoverConnection: hands out subscription ids and remembers acks."""

    def __init__(self) -> None:
        self.acked: list[Delivery] = []
        self.unsubscribed: list[str] = []
        self.subscriptions = 0
        self.current_endpoint = "127.0.0.1:61613"

    def subscribe(self, destination: str, handler: Any, ack: str = "auto", headers: Any = None) -> ClientSubscription:
        self.subscriptions += 1
        return ClientSubscription(f"sub-{self.subscriptions}", destination, ack, dict(headers or {}))

    def unsubscribe(self, id: str) -> None:
        self.unsubscribed.append(id)

    def ack(self, delivery: Delivery, receipt: bool = True, timeout: float | None = None) -> None:
        self.acked.append(delivery)


def subscribed_consumer(wl: Workload, **options: Any) -> tuple[Consumer, AckingConnection]:
    consumer = Consumer(7, wl, **options)
    conn = AckingConnection()
    consumer.conn = conn  # type: ignore[assignment]
    consumer.subscribe()
    return consumer, conn


def workload(**options: Any) -> Workload:
    history = History()
    return Workload(NoCluster(), history, Nemesis(history), WorkloadOptions(**options))  # type: ignore[arg-type]


def delivery(body: str, headers: dict[str, str] | None = None) -> Delivery:
    return Delivery(headers or {}, body.encode(), "ID:1", "a1", False, "127.0.0.1:61613", "sub-1", "/queue/q", 1)


def test_groups_cycle_over_sequence_numbers_and_are_off_by_default():
    grouped = workload(groups=3)
    assert [grouped.group_of(MessageKey("p0", seq)) for seq in range(4)] == ["group-0", "group-1", "group-2", "group-0"]
    assert workload().group_of(MessageKey("p0", 5)) is None


def test_a_consumer_records_the_group_the_key_was_sent_in_when_the_broker_drops_the_header():
    wl = workload(groups=2)
    Producer(0, wl).next_seq = 5
    wl.options = wl.options.with_overrides("workload.running", {"groups": 0})
    Producer(1, wl).next_seq = 5  # a phase sent without groups
    consumer, _ = subscribed_consumer(wl)
    consumer.on_delivery(delivery("p0:3:xx"))  # no JMSXGroupID header, as ActiveMQ's STOMP frames
    consumer.on_delivery(delivery("p1:4:xx"))
    first, second = [op for op in wl.history.ops() if op.f == "receive"]
    assert first.meta["group"] == "group-1" and first.node == "amq1"
    assert "group" not in second.meta


def test_without_workload_groups_a_consumer_keeps_the_brokers_group_header():
    wl = workload()
    consumer, _ = subscribed_consumer(wl)
    consumer.on_delivery(delivery("p0:3:xx", {"JMSXGroupID": "orders"}))
    [receive] = [op for op in wl.history.ops() if op.f == "receive"]
    assert receive.meta["group"] == "orders"


class RecordingConnection:
    """Stands in for a FailoverConnection: confirms every send at once and remembers its headers."""

    def __init__(self, stop_after: int, producer: list[Producer]) -> None:
        self.sent: list[dict[str, str]] = []
        self.subscribed: list[dict[str, str] | None] = []
        self.stop_after = stop_after
        self.producer = producer
        self.current_endpoint = "127.0.0.1:61613"

    def __enter__(self) -> RecordingConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, destination: str, body: str, headers: dict[str, str] | None = None, **_: Any) -> SendResult:
        self.sent.append(dict(headers or {}))
        if len(self.sent) >= self.stop_after:
            self.producer[0].stopping.set()
        return SendResult(f"r{len(self.sent)}", "127.0.0.1:61613", 1)

    def add_listener(self, listener: Any) -> None:
        return None

    def subscribe(
        self, destination: str, handler: Any, ack: str = "auto", headers: dict[str, str] | None = None
    ) -> ClientSubscription:
        self.subscribed.append(headers)
        self.producer[0].stopping.set()
        return ClientSubscription("sub-1", destination, ack, dict(headers or {}))


def test_a_producer_puts_each_message_in_its_group_and_records_it():
    wl = workload(groups=2, rate_per_producer=0)
    holder: list[Producer] = []
    conn = RecordingConnection(stop_after=3, producer=holder)
    wl.connect = lambda client_id, at=None: conn  # type: ignore[method-assign,assignment,return-value]
    holder.append(Producer(1, wl))
    holder[0].run()
    assert [h.get("JMSXGroupID") for h in conn.sent] == ["group-0", "group-1", "group-0"]
    invokes = [op for op in wl.history.ops() if op.f == "send" and op.type == "invoke"]
    assert [op.meta.get("group") for op in invokes] == ["group-0", "group-1", "group-0"]


def test_exclusive_consumers_subscribe_with_activemq_exclusive():
    wl = workload(exclusive=True)
    holder: list[Any] = []
    conn = RecordingConnection(stop_after=1, producer=holder)
    wl.connect = lambda client_id, at=None: conn  # type: ignore[method-assign,assignment,return-value]
    holder.append(Consumer(2, wl))
    holder[0].run()
    assert conn.subscribed == [{"activemq.exclusive": "true"}]


def test_the_workload_remembers_a_few_keys_however_many_messages_it_sends():
    wl = workload()
    for seq in range(10_000):
        key = MessageKey("p0", seq)
        wl.sending(key)
        if seq % 3 == 0:  # the broker dispatched it before the producer had its receipt
            wl.count("received", key)
            wl.count("sent", key)
        else:
            wl.count("sent", key)
            wl.count("received", key)
        if seq % 7 == 0:
            wl.count("received", key)  # a redelivery
        assert wl.tracked_keys() <= 1
    assert wl.all_delivered()
    assert wl.attempted() == 10_000


def test_all_delivered_until_a_receipted_send_is_delivered_and_a_failed_send_is_forgotten():
    wl = workload()
    first, second, failed = MessageKey("p0", 0), MessageKey("p0", 1), MessageKey("p1", 0)
    wl.sending(first)
    wl.count("sent", first)
    assert not wl.all_delivered()
    wl.sending(failed)
    wl.count("received", failed)  # delivered, then its send timed out: not a receipted send
    wl.send_done(failed)
    wl.count("received", first)
    assert wl.all_delivered()
    wl.sending(second)
    wl.count("sent", second)
    assert not wl.all_delivered()
    assert wl.tracked_keys() == 1


def test_a_key_the_producer_never_sent_gets_the_brokers_group_header():
    wl = workload(groups=2)
    Producer(0, wl).next_seq = 5
    consumer, _ = subscribed_consumer(wl)
    consumer.on_delivery(delivery("p0:9:xx", {"JMSXGroupID": "theirs"}))
    [receive] = [op for op in wl.history.ops() if op.f == "receive"]
    assert receive.meta["group"] == "theirs"


def test_the_last_receipt_time_moves_on_receipted_sends_only():
    wl = workload()
    assert wl.last_receipt_ns() is None  # nothing receipted yet: the cluster has not served
    key = MessageKey("p0", 0)
    wl.sending(key)
    wl.count("received", key)
    wl.count("acked")
    assert wl.last_receipt_ns() is None
    wl.count("sent", key)
    first = wl.last_receipt_ns()
    assert first is not None
    wl.count("received", key)
    assert wl.last_receipt_ns() == first
    # A receipt counted with its op's time keeps that time: the instant the exercise rule judges it at.
    wl.count("sent", key, at_ns=first + 7)
    assert wl.last_receipt_ns() == first + 7
