"""Replicated master/slave on a real ZooKeeper ensemble with three real pybroker processes: takeover
with every receipted message, no master without a quorum of brokers or of ZooKeeper nodes, and a
deposed master that never confirms again."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.client.plain import PlainStompConnection
from harness.cluster import Cluster
from harness.runtime.base import Node
from harness.topology import replicated
from harness.topology.model import Topology

pytestmark = pytest.mark.integration

MakeCluster = Callable[[str, Topology], Cluster]
SESSION_S = 2.0


def _send(node: Node, bodies: list[str], queue: str = "/queue/r") -> None:
    conn = PlainStompConnection(node.host, node.stomp_port, timeout=5)
    try:
        conn.connect()
        for body in bodies:
            conn.send(queue, body)
    finally:
        conn.close()


def _drain(node: Node, queue: str = "/queue/r") -> list[str]:
    conn = PlainStompConnection(node.host, node.stomp_port, timeout=5)
    try:
        conn.connect()
        conn.subscribe(queue, ack="auto")
        return [frame.body.decode() for frame in conn.drain(idle=1.0, first=3.0)]
    finally:
        conn.close()


def _no_master_for(cluster: Cluster, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        masters = [name for name, role in cluster.roles().items() if role == "master"]
        assert not masters, f"{masters} accepted clients without a quorum"
        time.sleep(0.2)


def _wait_no_master(cluster: Cluster, within: float) -> float:
    started = time.monotonic()
    while any(role == "master" for role in cluster.roles().values()):
        assert time.monotonic() - started < within, f"a master still serves after {within:.1f} s: {cluster.roles()}"
        time.sleep(0.05)
    return time.monotonic() - started


def test_master_killed_a_slave_takes_over_with_every_receipted_message(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("pybroker", replicated())
    master = cluster.master()
    bodies = [f"m{i}" for i in range(50)]
    _send(master, bodies)
    master.kill()
    started = time.monotonic()
    successor = cluster.wait_for_master(timeout=10, exclude=(master.name,))
    took = time.monotonic() - started
    assert took < 2 * SESSION_S, f"takeover took {took:.2f} s"
    assert sorted(_drain(successor)) == sorted(bodies)


def test_restarted_node_catches_up_and_can_be_master_again(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("pybroker", replicated())
    first = cluster.master()
    first.kill()
    second = cluster.wait_for_master(timeout=10, exclude=(first.name,))
    _send(second, ["after-1", "after-2"])
    first.start()
    cluster.wait_standby(first, timeout=20)
    # The other original slave goes too: the restarted node must hold what it missed to keep serving.
    third = next(n for n in cluster.nodes.values() if n.name not in (first.name, second.name))
    third.kill()
    second.kill()
    third.start()
    master = cluster.wait_for_master(timeout=15)
    assert sorted(_drain(master)) == ["after-1", "after-2"]


def test_no_master_without_a_quorum_of_brokers(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("pybroker", replicated())
    master = cluster.master()
    slaves = [n for n in cluster.nodes.values() if n is not master]
    for slave in slaves:
        slave.kill()
    took = _wait_no_master(cluster, within=SESSION_S + 1.0)
    _no_master_for(cluster, 2.0)
    slaves[0].start()
    back = cluster.wait_for_master(timeout=15)
    assert back.name in (master.name, slaves[0].name), f"stepped down after {took:.2f} s, back: {back.name}"


def test_no_master_without_a_zookeeper_quorum(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("pybroker", replicated())
    _send(cluster.master(), ["before"])
    ensemble = cluster.zookeeper()
    ensemble.kill("zk1")
    ensemble.kill("zk2")
    _wait_no_master(cluster, within=SESSION_S + 1.5)
    _no_master_for(cluster, 2.0)
    ensemble.restart("zk1")
    master = cluster.wait_for_master(timeout=20)
    assert _drain(master) == ["before"]


def test_a_paused_master_is_deposed_and_never_confirms_again(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("pybroker", replicated())
    master = cluster.master()
    conn = PlainStompConnection(master.host, master.stomp_port, timeout=5)
    conn.connect()
    conn.send("/queue/r", "confirmed-before")
    master.pause()
    try:
        successor = cluster.wait_for_master(timeout=3 * SESSION_S + 5, exclude=(master.name,))
    finally:
        master.resume()
    # The old master's client connection is still open: what it sends now must never be receipted.
    receipted = True
    try:
        conn.send("/queue/r", "sent-to-the-deposed-master")
    except Exception:
        receipted = False
    finally:
        conn.close()
    assert not receipted, "a deposed master receipted a message"
    bodies = _drain(cluster.wait_for_master(timeout=10))
    assert bodies == ["confirmed-before"], bodies
    assert successor.name != master.name
