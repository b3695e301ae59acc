from pathlib import Path

import pytest

from harness.faults import FaultUnsupported, Kill, LockSteal, Nemesis, Partition, Pause
from harness.history import FAULT_END, FAULT_START, History


class FakeNode:
    """Records what a fault did to it; a unit-test stand-in for a runtime node."""

    def __init__(self, name: str = "amq1") -> None:
        self.name = name
        self.alive = True
        self.calls: list[str] = []

    def kill(self) -> None:
        self.calls.append("kill")
        self.alive = False

    def start(self) -> None:
        self.calls.append("start")
        self.alive = True

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def test_kill_is_recorded_and_heals_by_restarting_the_node():
    history, node = History(), FakeNode()
    with Nemesis(history).inject(Kill(node)):  # type: ignore[arg-type]
        assert node.calls == ["kill"]
    assert node.calls == ["kill", "start"]
    starts = [op for op in history if op.f == FAULT_START]
    ends = [op for op in history if op.f == FAULT_END]
    assert starts[0].value == {"fault": "kill", "target": "amq1", "fault_id": 0, "signal": "SIGKILL"}
    assert len(ends) == 1 and ends[0].value["fault_id"] == 0


def test_heal_runs_once_even_when_called_again_by_teardown():
    history, node = History(), FakeNode()
    nemesis = Nemesis(history)
    with nemesis.inject(Pause(node)):  # type: ignore[arg-type]
        pass
    assert nemesis.heal_all() == []
    assert node.calls == ["pause", "resume"]
    assert [op.f for op in history].count(FAULT_END) == 1


def test_teardown_heals_faults_left_open_when_a_test_fails():
    history, a, b = History(), FakeNode("amq1"), FakeNode("amq2")
    nemesis = Nemesis(history)
    with pytest.raises(AssertionError):
        nemesis.inject(Pause(a))  # type: ignore[arg-type]
        nemesis.inject(Kill(b))  # type: ignore[arg-type]
        raise AssertionError("the scenario failed before healing")
    nemesis.heal_all()
    assert a.calls == ["pause", "resume"] and b.calls == ["kill", "start"]


def test_lock_steal_deletes_the_lock_file(tmp_path: Path):
    lock = tmp_path / "lock"
    lock.write_text("held")
    with Nemesis(History()).inject(LockSteal("g", lock, "delete")):
        assert not lock.exists()


def test_lock_steal_replaces_the_lock_file_with_a_new_inode(tmp_path: Path):
    lock = tmp_path / "lock"
    lock.write_text("held")
    before = lock.stat().st_ino
    Nemesis(History()).inject(LockSteal("g", lock, "replace"))
    assert lock.exists() and lock.stat().st_ino != before


def test_lock_steal_without_a_lock_file_fails_clearly(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="is a master running"):
        Nemesis(History()).inject(LockSteal("g", tmp_path / "lock"))


def test_lock_steal_rejects_an_unknown_method(tmp_path: Path):
    with pytest.raises(ValueError, match="'delete' or 'replace'"):
        LockSteal("g", tmp_path / "lock", "shred")  # type: ignore[arg-type]


class FakePartitionableNode(FakeNode):
    def isolate(self) -> None:
        self.calls.append("isolate")

    def rejoin(self) -> None:
        self.calls.append("rejoin")


def test_partition_isolates_and_heals_by_rejoining():
    history, node = History(), FakePartitionableNode("amq2")
    with Nemesis(history).inject(Partition(node)):  # type: ignore[arg-type]
        assert node.calls == ["isolate"]
    assert node.calls == ["isolate", "rejoin"]
    (start,) = [op for op in history if op.f == FAULT_START]
    assert start.value["fault"] == "partition" and start.node == "amq2"


def test_partition_of_a_node_that_cannot_be_cut_off_says_which_runtime_can():
    with pytest.raises(FaultUnsupported, match=r"node amq1 cannot be partitioned.*--runtime docker"):
        Partition(FakeNode())  # type: ignore[arg-type]
