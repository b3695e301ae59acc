"""The workload's backlog tools: a slow consumer's unacked work, closing and reopening, session records."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from test_workload_groups import delivery, subscribed_consumer, workload

from harness.checkers import check_redelivery_order
from harness.history import ACK, RECEIVE, SEND, SUBSCRIBED, UNSUBSCRIBED, MessageKey


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_consumer_records_when_its_subscription_begins_and_ends():
    wl = workload(exclusive=True)
    consumer, conn = subscribed_consumer(wl)
    consumer.transport_interrupted("127.0.0.1:61613", None)
    consumer.transport_resumed("127.0.0.1:61614")
    consumer.reopen()
    events = [(op.f, op.value["cause"]) for op in wl.history.ops() if op.f in (SUBSCRIBED, UNSUBSCRIBED)]
    assert events == [
        (SUBSCRIBED, "subscribe"),
        (UNSUBSCRIBED, "interrupted"),
        (SUBSCRIBED, "resumed"),
        (UNSUBSCRIBED, "close"),
        (SUBSCRIBED, "subscribe"),
    ]
    assert all(op.value["exclusive"] for op in wl.history.ops() if op.f == SUBSCRIBED)
    assert conn.unsubscribed == ["sub-1"]


def test_a_delivery_of_a_closed_subscription_is_neither_recorded_nor_acked():
    wl = workload()
    consumer, conn = subscribed_consumer(wl)
    consumer.reopen()  # now sub-2
    consumer.on_delivery(delivery("p0:1:xx"))  # still addressed to sub-1
    assert [op for op in wl.history.ops() if op.f == RECEIVE] == []
    assert conn.acked == []


def test_a_slow_consumer_records_on_arrival_and_drops_unacked_work_when_it_reopens():
    # 0.3 s per ack: the test thread would have to stall for over a second before reopen() for all five to
    # be acked first (at 0.05 s a loaded machine did that once, and nothing was left to drop).
    wl = workload(processing_delay_s=0.3)
    consumer, conn = subscribed_consumer(wl)
    consumer.start_work()
    for seq in range(5):
        consumer.on_delivery(delivery(f"p0:{seq}:xx"))
    received = [op.key.seq for op in wl.history.ops() if op.f == RECEIVE]
    assert received == [0, 1, 2, 3, 4]  # recorded at once, acked one by one afterwards
    wait_until(lambda: len(conn.acked) >= 1)
    consumer.reopen()
    acked_before = len(conn.acked)
    time.sleep(0.2)
    consumer.stopping.set()
    assert 1 <= acked_before < 5
    assert len(conn.acked) == acked_before, "work of the closed subscription was acked after it closed"
    acks = [op for op in wl.history.ops() if op.f == ACK and op.type == "ok"]
    assert len(acks) == acked_before


def test_the_work_a_reopened_consumer_returned_is_what_the_order_checker_follows():
    """What the slow consumer dropped must come back first; here it comes after a newer message, and fails."""
    wl = workload(processing_delay_s=0.05)
    consumer, _ = subscribed_consumer(wl)  # no worker: nothing gets acked
    for seq in range(3):
        wl.history.record(100, "invoke", SEND, MessageKey("p0", seq))
        wl.history.record(100, "ok", SEND, MessageKey("p0", seq), node="amq1")
    consumer.on_delivery(delivery("p0:0:xx"))
    consumer.on_delivery(delivery("p0:1:xx"))
    consumer.reopen()
    for body in ("p0:2:xx", "p0:0:xx", "p0:1:xx"):
        consumer.on_delivery(dataclasses.replace(delivery(body), subscription="sub-2"))
    result = check_redelivery_order(wl.history.ops())
    assert (result.sessions_checked, result.returned_redelivered, result.late) == (1, 2, 2)
