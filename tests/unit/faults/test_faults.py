from pathlib import Path

import pytest

from harness.faults import FaultUnsupported, Kill, LockSteal, Nemesis, Partition, Pause
from harness.history import FAULT_END, FAULT_START, History
from harness.services import DatabaseRef


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


# -- database faults ---------------------------------------------------------------------------------
class FakeDatabaseServer:
    """A unit-test stand-in for a database server: records stops, starts and session kills."""

    kind = "postgresql"
    host = "127.0.0.1"
    port = 5432

    def __init__(self) -> None:
        self.running = True
        self.calls: list[str] = []
        self.killed_ports: set[int] | None = None

    def stop_immediately(self) -> None:
        self.calls.append("stop")
        self.running = False

    def start(self) -> None:
        self.calls.append("start")
        self.running = True

    def kill_sessions(self, database: object, client_ports: set[int] | None = None) -> int:
        self.killed_ports = set(client_ports or ())
        return len(self.killed_ports)


DATABASE = DatabaseRef("postgresql", "127.0.0.1", 5432, "activemq1")


class FakeLink:
    def __init__(self, ports: set[int]) -> None:
        self.ports = ports

    def upstream_ports(self) -> set[int]:
        return self.ports


def test_database_outage_starts_the_server_again_by_itself_after_its_time() -> None:
    from harness.faults import DatabaseOutage

    server = FakeDatabaseServer()
    history = History()
    outage = Nemesis(history).inject(DatabaseOutage(server, down_for_s=0.05))  # type: ignore[arg-type]
    assert isinstance(outage, DatabaseOutage)
    assert not server.running
    outage.wait_healed(timeout=5)
    assert server.running and server.calls == ["stop", "start"]
    outage.heal()  # again, as teardown does: nothing more happens
    assert server.calls == ["stop", "start"]
    assert [op.f for op in history.ops()] == [FAULT_START, FAULT_END]


def test_database_outage_without_a_time_lasts_until_healed() -> None:
    from harness.faults import DatabaseOutage

    server = FakeDatabaseServer()
    outage = Nemesis(History()).inject(DatabaseOutage(server))  # type: ignore[arg-type]
    assert not server.running
    outage.heal()
    assert server.running


def test_database_outage_refuses_a_negative_time() -> None:
    from harness.faults import DatabaseOutage

    with pytest.raises(ValueError, match="down_for_s must be >= 0"):
        DatabaseOutage(FakeDatabaseServer(), down_for_s=-1)  # type: ignore[arg-type]


def test_session_kill_ends_only_the_nodes_sessions() -> None:
    from harness.faults import SessionKill

    server = FakeDatabaseServer()
    fault = SessionKill("amq1", server, DATABASE, FakeLink({4001, 4002}))  # type: ignore[arg-type]
    Nemesis(History()).inject(fault)
    assert server.killed_ports == {4001, 4002}
    assert fault.describe()["sessions"] == 2


def test_session_kill_of_a_node_without_connections_is_an_error_not_a_silent_pass() -> None:
    from harness.faults import SessionKill

    fault = SessionKill("amq2", FakeDatabaseServer(), DATABASE, FakeLink(set()))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="amq2 has no open connection"):
        Nemesis(History()).inject(fault)


class FailingHeal(Pause):
    """A pause whose resume fails, as when the node's process is already gone."""

    def _heal(self) -> None:
        raise OSError("no such process")


def test_nemesis_as_context_heals_what_is_left_open():
    history, node = History(), FakeNode()
    with Nemesis(history) as nemesis:
        nemesis.inject(Pause(node))  # type: ignore[arg-type]
    assert node.calls == ["pause", "resume"]


def test_nemesis_as_context_fails_when_a_fault_does_not_heal():
    expected = pytest.raises(RuntimeError, match="faults did not heal: pause on amq1: no such process")
    with expected, Nemesis(History()) as nemesis:
        nemesis.inject(FailingHeal(FakeNode()))  # type: ignore[arg-type]


def test_nemesis_as_context_lets_the_scenarios_own_error_through():
    with pytest.raises(AssertionError, match="the scenario failed"), Nemesis(History()) as nemesis:
        nemesis.inject(FailingHeal(FakeNode()))  # type: ignore[arg-type]
        raise AssertionError("the scenario failed")
