"""A multicast-discovered bridge is dialled again on MulticastDiscoveryAgent's terms on both vendors:
not before initialReconnectDelay (5 s) after it fell, although its peer is back and advertising
within a second or two (real brokers; the schedule itself: tests/unit/broker/network/test_rediscovery.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import pytest
from vendor_params import BOTH_VENDORS

from harness.cluster import Cluster
from harness.topology import Topology, network

pytestmark = [pytest.mark.integration, pytest.mark.nightly]

# What amq1 logs when its own bridge to amq2 falls, and when it dials amq2 again, per vendor.
FELL = {"pybroker": "Network bridge NC to tcp://", "activemq": "amq1 bridge to amq2 stopped"}
REDIALLED = {
    "pybroker": "Network connection between amq1 and tcp://",
    "activemq": "Establishing network connection from vm://amq1 to tcp://",
}
WAIT_S = 5.0  # MulticastDiscoveryAgent's initialReconnectDelay


def logged_at(line: str) -> datetime:
    """Both vendors start a log line with ``2026-12-07 23:43:47,798``."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def first(log: str, text: str) -> str | None:
    return next((line for line in log.splitlines() if text in line), None)


@pytest.mark.parametrize("vendor", BOTH_VENDORS)
def test_a_multicast_bridge_is_dialled_again_no_sooner_than_5_s_after_it_fell(
    make_cluster: Callable[[str, Topology], Cluster], vendor: str
) -> None:
    cluster = make_cluster(vendor, network(2, "multicast"))
    amq1, amq2 = cluster.nodes["amq1"], cluster.nodes["amq2"]
    mark = cluster.log_mark(amq1)
    amq2.kill()
    amq2.start()
    cluster.wait_for_master("amq2", timeout=60)
    back = time.monotonic()
    deadline = back + 60
    log = amq1.logs()[mark:]
    while first(log, REDIALLED[vendor]) is None and time.monotonic() < deadline:
        time.sleep(0.2)
        log = amq1.logs()[mark:]
    fell, redialled = first(log, FELL[vendor]), first(log, REDIALLED[vendor])
    assert fell is not None and redialled is not None, f"amq1 did not log its bridge falling and dialled again:\n{log}"
    waited = (logged_at(redialled) - logged_at(fell)).total_seconds()
    # The log's clock is the brokers': 0.1 s of slack for the fall logged after the failure was marked.
    assert waited >= WAIT_S - 0.1, f"amq1 dialled amq2 again {waited:.2f} s after its bridge fell:\n{log}"
