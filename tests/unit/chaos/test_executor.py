"""The chaos nemesis on a cluster of stand-in nodes (no processes): faults start on the role's node at
their time and heal after their duration; impossible ones are skipped with why; everything heals when
the run is interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.chaos import ChaosExecutor, Schedule, ScheduledFault
from harness.faults import Faults, Nemesis
from harness.history import FAULT_END, FAULT_START, NEMESIS, History
from harness.topology import shared_file


class StandInNode:
    def __init__(self, name: str, role: str) -> None:
        self.name, self.role, self.alive, self.paused = name, role, True, False
        self.events: list[str] = []

    def kill(self) -> None:
        self.alive, self.role = False, "down"
        self.events.append("kill")

    def start(self) -> None:
        self.alive, self.role = True, "slave"
        self.events.append("start")

    def stop(self) -> None:
        self.kill()

    def pause(self) -> None:
        self.paused = True
        self.events.append("pause")

    def resume(self) -> None:
        self.paused = False
        self.events.append("resume")


class StandInCluster:
    """What the executor and Faults ask of a cluster, over stand-in nodes."""

    def __init__(self, tmp_path: Path) -> None:
        self.topology = shared_file(nodes=2)
        self.nodes = {"amq1": StandInNode("amq1", "master"), "amq2": StandInNode("amq2", "slave")}
        self.lock = tmp_path / "lock"
        self.lock.write_text("held")

    def group(self, name: str | None = None) -> Any:
        return self.topology.groups[0]

    def node(self, node: Any) -> StandInNode:
        return self.nodes[node if isinstance(node, str) else node.name]

    def roles(self) -> dict[str, str]:
        return {name: node.role for name, node in self.nodes.items()}

    def lock_path(self, group: str | None = None) -> Path:
        return self.lock


def run(tmp_path: Path, faults: tuple[ScheduledFault, ...], duration: float = 0.6, **kwargs: Any) -> Any:
    cluster = StandInCluster(tmp_path)
    history = History()
    nemesis = Nemesis(history)
    schedule = Schedule(seed=1, duration_s=duration, topology="shared_file(2)", faults=faults)
    lines: list[str] = []
    executor = ChaosExecutor(schedule, Faults(nemesis, cluster), cluster, kwargs.get("progress", lines.append))  # type: ignore[arg-type]
    return executor, cluster, history, nemesis


def test_faults_start_on_the_roles_node_and_heal_after_their_duration(tmp_path: Path) -> None:
    faults = (
        ScheduledFault("kill", 0.1, 0.2, "master", "ms-broker-a"),
        ScheduledFault("pause", 0.15, 0.1, "slave", "ms-broker-a"),
        ScheduledFault("steal_lock", 0.2, 0.0, "store", "ms-broker-a"),
    )
    executor, cluster, history, nemesis = run(tmp_path, faults)
    executed = executor.run()
    assert [e.on for e in executed] == ["amq1", "amq2", "store of ms-broker-a"]
    assert cluster.nodes["amq1"].events == ["kill", "start"]
    assert cluster.nodes["amq2"].events == ["pause", "resume"]
    assert not cluster.lock.exists()  # the lock file was deleted
    assert all(fault.healed for fault in nemesis.injected)
    nemesis_ops = [op.f for op in history.ops() if op.process == NEMESIS]
    assert nemesis_ops.count(FAULT_START) == nemesis_ops.count(FAULT_END) == 3
    # Healed in schedule order: the lock theft at once (0.2 s), the pause (0.25 s), the kill (0.3 s).
    assert [op.value["fault"] for op in history.ops() if op.f == FAULT_END] == ["steal-lock", "pause", "kill"]


def test_a_fault_on_a_node_under_another_process_fault_is_skipped_with_why(tmp_path: Path) -> None:
    faults = (
        ScheduledFault("pause", 0.05, 0.3, "node", "ms-broker-a", "amq2"),
        ScheduledFault("kill", 0.1, 0.1, "slave", "ms-broker-a"),
    )
    executor, cluster, _, _ = run(tmp_path, faults, duration=0.5)
    executed = executor.run()
    assert executed[1].skipped == "amq2 is under fault #0 (pause)"
    assert cluster.nodes["amq2"].events == ["pause", "resume"]


def test_a_role_nobody_has_is_skipped(tmp_path: Path) -> None:
    faults = (
        ScheduledFault("kill", 0.05, 0.3, "master", "ms-broker-a"),
        ScheduledFault("kill", 0.1, 0.1, "master", "ms-broker-a"),
    )
    executor, _, _, _ = run(tmp_path, faults, duration=0.5)
    executed = executor.run()
    assert executed[1].skipped is not None and executed[1].skipped.startswith("no master in ms-broker-a")


def test_an_interrupted_run_heals_every_fault_it_started(tmp_path: Path) -> None:
    def interrupt_on_second_fault(line: str) -> None:
        if "#1" in line and "healed" not in line:
            raise KeyboardInterrupt

    faults = (
        ScheduledFault("kill", 0.05, 5.0, "master", "ms-broker-a"),
        ScheduledFault("pause", 0.1, 5.0, "slave", "ms-broker-a"),
    )
    executor, cluster, _, nemesis = run(tmp_path, faults, duration=11, progress=interrupt_on_second_fault)
    with pytest.raises(KeyboardInterrupt):
        executor.run()
    assert all(fault.healed for fault in nemesis.injected)
    assert cluster.nodes["amq1"].alive and not cluster.nodes["amq2"].paused
