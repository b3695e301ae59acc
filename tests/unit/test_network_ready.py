"""A network is ready once each configured bridge carried a probe: which bridges a topology has, and
what a bridge that never comes up turns into (an error naming it, never a fail)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness import network_ready
from harness.network_ready import (
    Bridge,
    BridgesNotReady,
    Side,
    configured_bridges,
    probe_bridge,
    probeable,
    wait_for_bridges,
)
from harness.report.outcome import classify_exception
from harness.topology import Topology, combined, fan_out, network
from harness.topology.model import MasterSlaveGroup
from harness.topology.network import NetworkConnector


def directions(topology: Topology) -> set[tuple[str, str]]:
    return {(b.source, b.target) for b in configured_bridges(topology)}


def test_a_duplex_mesh_is_bridged_both_ways_between_every_pair() -> None:
    pairs = {(a, b) for a in ("amq1", "amq2", "amq3") for b in ("amq1", "amq2", "amq3") if a != b}
    assert directions(network(3)) == pairs


def test_a_one_way_connector_is_one_bridge_from_its_own_broker() -> None:
    one_way = Topology(
        "one way",
        (MasterSlaveGroup("amq1", ("amq1",)), MasterSlaveGroup("amq2", ("amq2",))),
        (NetworkConnector("amq1", ("amq2",), duplex=False),),
    )
    assert directions(one_way) == {("amq1", "amq2")}
    assert directions(network(2, duplex=False)) == {("amq1", "amq2"), ("amq2", "amq1")}


def test_a_line_is_bridged_between_neighbours_only() -> None:
    assert directions(network(3, shape="line")) == {
        ("amq1", "amq2"),
        ("amq2", "amq1"),
        ("amq2", "amq3"),
        ("amq3", "amq2"),
    }


def test_multicast_bridges_every_broker_to_every_other_one() -> None:
    assert len(directions(network(3, "multicast"))) == 6


def test_pairs_are_bridged_as_groups_and_a_pair_to_itself_is_no_bridge() -> None:
    # combined: masterslave:(own pair) on every node is a loop-back; pair a's static connector is duplex.
    assert directions(combined(pairs=2)) == {("ms-broker-a", "ms-broker-b"), ("ms-broker-b", "ms-broker-a")}
    assert directions(fan_out(consumer_brokers=2)) == {
        ("amq3", "producer"),
        ("producer", "amq3"),
        ("amq4", "producer"),
        ("producer", "amq4"),
    }


def test_a_connector_with_destination_filters_is_not_probed() -> None:
    filtered = Topology(
        "filtered",
        (MasterSlaveGroup("amq1", ("amq1",)), MasterSlaveGroup("amq2", ("amq2",))),
        (NetworkConnector("amq2", ("amq1",), dynamically_included=("orders.>",)),),
    )
    (bridge,) = configured_bridges(filtered)
    assert not probeable(filtered, bridge)
    assert all(probeable(network(2), b) for b in configured_bridges(network(2)))


def test_a_bridge_that_never_carries_is_named_within_the_bound() -> None:
    up, down = Bridge("amq1", "amq2", "amq2"), Bridge("amq2", "amq1", "amq2")

    def probe(bridge: Bridge, queue: str, deadline: float, stop: threading.Event) -> bool:
        assert queue.startswith("/queue/amqh.bridge-probe."), queue
        if bridge == up:
            return True
        stop.wait(max(0.0, deadline - time.monotonic()))
        return False

    started = time.monotonic()
    with pytest.raises(BridgesNotReady) as raised:
        wait_for_bridges([up, down], probe, timeout=0.3)
    assert time.monotonic() - started < 5.0, "the wait outlived its bound"
    assert raised.value.missing == [down], f"expected only {down} named, got {raised.value.missing}"
    assert "bridge amq2 -> amq1 (connector on amq2) carried no probe message within 0.3 s" in str(raised.value)


def test_a_probe_of_an_unreachable_broker_gives_up_at_its_deadline() -> None:
    # A port nothing listens on: every connection is refused, the probe retries until the deadline.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = Side("127.0.0.1", port)
    started = time.monotonic()
    carried = probe_bridge(
        lambda: nowhere, lambda: nowhere, "/queue/amqh.bridge-probe.t", started + 0.5, threading.Event()
    )
    assert carried is False
    assert time.monotonic() - started < 5.0, "the probe outlived its deadline"


def test_a_probe_follows_a_master_that_changed_during_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The source group's master moves (a takeover) while the probe waits: the next try must dial the
    new master, not the old one until the bound runs out (which made a sound network an error)."""
    old, new, consumer = Side("127.0.0.1", 1001), Side("127.0.0.1", 1002), Side("127.0.0.1", 2001)
    lookups: list[str] = []

    def source() -> Side | None:
        lookups.append("source")
        # The old master first, then no master for a moment (the takeover), then the new one.
        return [old, None][len(lookups) - 1] if len(lookups) <= 2 else new

    dialled: list[Side] = []

    def probe_once(src: Side, dst: Side, queue: str, deadline: float, stop: threading.Event) -> bool:
        dialled.append(src)
        if src == old:
            raise ConnectionRefusedError("the old master closed its connectors")
        return True

    monkeypatch.setattr(network_ready, "_probe_once", probe_once)
    carried = probe_bridge(
        source, lambda: consumer, "/queue/amqh.bridge-probe.t", time.monotonic() + 30, threading.Event()
    )
    assert carried, f"the probe never reached the new master; it dialled {dialled}"
    assert dialled == [old, new], f"expected the old master once, then the new one; dialled {dialled}"


def test_a_bridge_not_ready_is_an_error_not_a_fail() -> None:
    exc = BridgesNotReady([Bridge("producer", "amq3", "amq3")], 45.0, "connector logs end with: ...")
    outcome = classify_exception(exc)
    assert outcome.verdict == "error", outcome
    assert outcome.reason == (
        "network not ready: bridge producer -> amq3 (connector on amq3) carried no probe message within 45 s "
        "of the cluster's start"
    )
