"""The routing decisions of pybroker's bridges: demand within networkTTL and never back to its source,
messages never back along their broker path nor past networkTTL (except a replay), the queues a
connector bridges, and the duplicate audit that lets a replay through."""

from __future__ import annotations

from harness.broker.config.network import NetworkConnectorConfig
from harness.broker.message import BROKER_PATH_HEADER
from harness.broker.network.routing import (
    Audit,
    ConsumerView,
    Demand,
    QueueFilter,
    advertised,
    broker_path,
    extended_path,
    may_forward,
)

LOCAL = ConsumerView()


def test_own_consumers_are_advertised_with_zero_hops_and_counted() -> None:
    demand = advertised("b", "a", ttl=1, consumers={"/queue/q": [LOCAL, LOCAL], "/queue/empty": []})
    assert demand == {"/queue/q": Demand(hops=0, count=2, path=("b",))}


def test_a_peers_demand_goes_on_only_within_the_ttl() -> None:
    # B holds a network consumer for C's consumer (1 hop away from B); A would need 2 bridges.
    views = {"/queue/q": [ConsumerView(via="c", hops=1, path=("c",))]}
    assert advertised("b", "a", ttl=1, consumers=views) == {}
    assert advertised("b", "a", ttl=2, consumers=views) == {"/queue/q": Demand(1, 1, ("c", "b"))}


def test_demand_never_goes_back_to_the_peer_it_came_from_nor_along_its_path() -> None:
    views = {"/queue/q": [ConsumerView(via="a", hops=1, path=("a",)), ConsumerView(via="c", hops=2, path=("a", "c"))]}
    assert advertised("b", "a", ttl=5, consumers=views) == {}


def test_the_nearest_demand_wins() -> None:
    views = {"/queue/q": [ConsumerView(via="c", hops=1, path=("c",)), LOCAL]}
    assert advertised("b", "a", ttl=3, consumers=views) == {"/queue/q": Demand(0, 1, ("b",))}


def test_a_message_goes_neither_back_along_its_path_nor_past_the_ttl() -> None:
    assert may_forward((), "b", ttl=1, replay=False)
    assert not may_forward(("a",), "c", ttl=1, replay=False)  # a line a-b-c with networkTTL=1
    assert may_forward(("a",), "c", ttl=2, replay=False)
    assert not may_forward(("a",), "a", ttl=5, replay=False)  # back to where it came from
    assert may_forward(("a",), "a", ttl=1, replay=True)  # ... unless the queue replays


def test_the_broker_path_travels_in_a_header() -> None:
    assert broker_path({}) == ()
    path = extended_path(broker_path({BROKER_PATH_HEADER: "a"}), "b")
    assert broker_path({BROKER_PATH_HEADER: path}) == ("a", "b")


def test_a_connectors_destination_lists_decide_what_it_bridges() -> None:
    connector = NetworkConnectorConfig(
        "static", excluded=("orders.secret",), dynamically_included=("orders.>",), statically_included=("audit",)
    )
    queues = QueueFilter(connector)
    assert queues.bridges("/queue/orders.eu") and not queues.bridges("/queue/orders.secret")
    assert not queues.bridges("/queue/other")  # dynamically included lists narrow the bridge
    assert queues.bridges("/queue/audit") and queues.static_names == ("/queue/audit",)
    assert not queues.bridges("/topic/orders.eu") and not queues.bridges("/remote-temp-queue/x")
    everything = QueueFilter(NetworkConnectorConfig("static"))
    assert everything.bridges("/queue/anything") and everything.static_names == ()


def test_the_audit_suppresses_a_message_received_twice_but_not_one_that_left_and_came_back() -> None:
    audit = Audit(size=3)
    assert not audit.seen("m1")
    assert audit.seen("m1") and audit.suppressed == 1  # the sender lost our receipt and sent it again
    audit.forget("m1")  # forwarded on (a replay): it may come back
    assert not audit.seen("m1")
    for other in ("m2", "m3", "m4"):
        audit.seen(other)
    assert "m1" not in audit and len(audit) == 3  # a bounded window
