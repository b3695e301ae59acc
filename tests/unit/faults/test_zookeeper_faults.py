"""ZooKeeper faults: which nodes are hit, what healing undoes, and what the history records (fakes only)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import Nemesis, ZooKeeperCut, ZooKeeperKill, ZooKeeperPause
from harness.faults.api import Faults
from harness.history import FAULT_END, FAULT_START, History


class FakeZooKeeperNode:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")


class FakeEnsemble:
    size = 3

    def __init__(self, modes: dict[str, str]) -> None:
        self.log: list[str] = []
        self._modes = modes
        self.nodes = {name: FakeZooKeeperNode(name, self.log) for name in modes}

    def modes(self) -> dict[str, str]:
        return dict(self._modes)

    def node(self, name: str) -> FakeZooKeeperNode:
        return self.nodes[name]

    def kill(self, name: str) -> None:
        self.log.append(f"kill {name}")

    def wait_serving(self, timeout: float) -> None:
        self.log.append("wait serving")


class FakeCluster:
    def __init__(self, ensemble: FakeEnsemble) -> None:
        self.ensemble = ensemble
        self.zookeeper_links: dict[str, list[Any]] = {}

    def zookeeper(self, group: str | None = None) -> FakeEnsemble:
        return self.ensemble


class FakeLink:
    def __init__(self, name: str) -> None:
        self.name = name
        self.enabled = True

    def __str__(self) -> str:
        return self.name

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled


def test_killing_two_of_three_takes_the_leader_first_and_healing_restarts_them() -> None:
    ensemble = FakeEnsemble({"zk1": "follower", "zk2": "leader", "zk3": "follower"})
    history = History()
    with Nemesis(history) as nemesis:
        faults = Faults(nemesis, FakeCluster(ensemble))  # type: ignore[arg-type]
        with faults.kill_zookeeper(count=2):
            assert ensemble.log == ["kill zk2", "kill zk1"]
    assert ensemble.log[2:] == ["start zk2", "start zk1", "wait serving"]
    start, end = [op for op in history.ops() if op.f in (FAULT_START, FAULT_END)]
    assert start.value["fault"] == "zookeeper-kill" and start.value["nodes"] == ["zk2", "zk1"]
    assert end.f == FAULT_END


def test_followers_only_when_asked() -> None:
    ensemble = FakeEnsemble({"zk1": "leader", "zk2": "follower", "zk3": "follower"})
    with Nemesis(History()) as nemesis:
        faults = Faults(nemesis, FakeCluster(ensemble))  # type: ignore[arg-type]
        with faults.pause_zookeeper(count=1, leader=False):
            assert ensemble.log == ["pause zk2"]
    assert ensemble.log == ["pause zk2", "resume zk2"]


def test_counts_outside_the_ensemble_are_refused() -> None:
    ensemble = FakeEnsemble({"zk1": "leader", "zk2": "follower", "zk3": "follower"})
    with Nemesis(History()) as nemesis:
        faults = Faults(nemesis, FakeCluster(ensemble))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="count must be between 1 and 3"):
            faults.kill_zookeeper(count=4)


def test_a_cut_takes_every_link_of_the_broker_down_until_healed() -> None:
    links = [FakeLink(f"amq1->zk{i}") for i in (1, 2, 3)]
    with ZooKeeperCut("amq1", links) as cut:  # type: ignore[arg-type]
        cut.inject(History(), 0)
        assert not any(link.enabled for link in links)
    assert all(link.enabled for link in links)


def test_a_node_outside_a_replicated_group_cannot_be_cut() -> None:
    ensemble = FakeEnsemble({"zk1": "leader"})
    with Nemesis(History()) as nemesis:
        faults = Faults(nemesis, FakeCluster(ensemble))  # type: ignore[arg-type]

        class Node:
            name = "amq9"

        with pytest.raises(ValueError, match="not in a replicated group"):
            faults.cut_zookeeper(Node())  # type: ignore[arg-type]


def test_faults_need_a_node() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ZooKeeperKill(FakeEnsemble({}), [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        ZooKeeperPause(FakeEnsemble({}), [])  # type: ignore[arg-type]
