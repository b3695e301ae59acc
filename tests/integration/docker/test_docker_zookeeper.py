"""ZooKeeper as containers (docker runtime): three nodes form an ensemble, lose their leader and take it
back with its data, and are removed with their runtime."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from kazoo.client import KazooClient

from harness.runtime.docker import DockerRuntime
from harness.services.zookeeper import ZooKeeperNode

pytestmark = pytest.mark.integration


def _client(hosts: str) -> KazooClient:
    client = KazooClient(hosts=hosts, timeout=5.0)
    client.start(timeout=30)
    return client


def test_zookeeper_containers_elect_a_leader_lose_it_and_take_it_back(tmp_path: Path, base_image: str) -> None:
    with DockerRuntime(tmp_path, database_image=base_image) as runtime:
        ensemble = runtime.zookeeper_ensemble(3, "ms-broker-a")
        moved: list[ZooKeeperNode] = []
        ensemble.on_moved(moved.append)
        ensemble.start(timeout=120)
        modes = ensemble.modes()
        assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
        client = _client(ensemble.connect_string)
        try:
            client.create("/kept", b"7")
        finally:
            client.stop()
            client.close()
        leader = next(name for name, mode in modes.items() if mode == "leader")
        ensemble.kill(leader)
        assert ensemble.node(leader).mode() == "down"
        ensemble.wait_serving(60)  # the two others elect a leader between them
        ensemble.restart(leader, timeout=120)
        assert ensemble.all_serving(), ensemble.modes()
        node = ensemble.node(leader)
        assert moved in ([], [node]), "only the restarted node can have moved"
        client = _client(node.endpoint)  # the restarted node alone: it caught up with the ensemble
        try:
            assert client.get("/kept")[0] == b"7"
        finally:
            client.stop()
            client.close()
        names = [str(n.container.name) for n in ensemble.container_nodes if n.container is not None]
    assert len(names) == 3
    engine = docker.from_env()
    try:
        for name in names:
            with pytest.raises(docker.errors.NotFound):
                engine.containers.get(name)
    finally:
        engine.close()
