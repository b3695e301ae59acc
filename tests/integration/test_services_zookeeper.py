"""A real ZooKeeper ensemble as a harness service: it serves sessions, survives one node's loss,
stops serving without a quorum, takes a killed node back, and leaves no process behind."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from harness.services.zookeeper import ZooKeeperEnsemble

pytestmark = pytest.mark.integration


@pytest.fixture
def ensemble() -> Iterator[ZooKeeperEnsemble]:
    with ZooKeeperEnsemble(3) as zk:
        yield zk.start()


def _client(ensemble: ZooKeeperEnsemble) -> KazooClient:
    client = KazooClient(hosts=ensemble.connect_string, timeout=2.0)
    client.start(timeout=15)
    return client


def _writes(client: KazooClient, path: str) -> bool:
    """True if a write is committed within 3 s (a write needs a quorum)."""
    try:
        client.create_async(path, b"x", makepath=True).get(timeout=3)
    except Exception:
        return False
    return True


def test_three_nodes_elect_one_leader_and_grant_a_two_second_session(ensemble: ZooKeeperEnsemble) -> None:
    modes = ensemble.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    client = _client(ensemble)
    try:
        assert client._session_timeout == 2000, "the ensemble's tick must allow ActiveMQ's 2 s zkSessionTimeout"
        assert _writes(client, "/amq/a")
    finally:
        client.stop()
        client.close()


def test_one_node_lost_keeps_the_quorum_two_lost_stop_every_write(ensemble: ZooKeeperEnsemble) -> None:
    client = _client(ensemble)
    try:
        ensemble.kill("zk1")
        assert ensemble.serving(), ensemble.modes()
        assert _writes(client, "/amq/one-down"), "two of three nodes must still commit writes"
        ensemble.kill("zk2")
        assert not ensemble.serving(), f"one node of three must not serve: {ensemble.modes()}"
        assert not _writes(client, "/amq/two-down"), "a write was committed without a quorum"
        ensemble.restart("zk1")
        ensemble.wait_serving(30)
        assert _writes(client, "/amq/back"), f"the ensemble did not serve again: {ensemble.modes()}"
    finally:
        client.stop()
        client.close()


def test_a_paused_node_answers_nothing_and_is_counted_down(ensemble: ZooKeeperEnsemble) -> None:
    leader = next(name for name, mode in ensemble.modes().items() if mode == "leader")
    ensemble.node(leader).pause()
    try:
        assert ensemble.modes()[leader] == "down"
        ensemble.wait_serving(30)  # the two others elect a new leader among themselves
        modes = ensemble.modes()
        assert modes[leader] == "down" and list(modes.values()).count("leader") == 1, modes
    finally:
        ensemble.node(leader).resume()


def test_standalone_node_serves_alone() -> None:
    with ZooKeeperEnsemble(1) as zk:
        zk.start()
        assert zk.modes() == {"zk1": "standalone"}
        assert zk.connect_string.count(",") == 0


def test_reap_leaves_no_process_and_no_directory() -> None:
    zk = ZooKeeperEnsemble(3).start()
    pids = [node.pid for node in zk.nodes]
    zk.reap()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not zk.root.exists()
