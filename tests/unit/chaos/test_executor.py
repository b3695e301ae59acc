"""The chaos nemesis on a cluster of stand-in nodes (no processes), on a clock the test moves: faults start
on the role's node at their time and heal after their duration; impossible ones are skipped with why;
everything heals when the run is interrupted; faults due while the cluster does not serve are held."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import ChaosExecutor, ChaosRun, Schedule, ScheduledFault
from harness.faults import Faults, Nemesis
from harness.history import FAULT_END, FAULT_START, NEMESIS, SEND, History, MessageKey, Op
from harness.topology import shared_file

S = 1_000_000_000
TICK_NS = 10_000_000  # the stand-in workload receipts a send every 10 ms while the cluster serves


class FakeClock:
    """A monotonic clock that moves only when the executor waits on it (or by ``step_ns`` at each reading,
    as real time passes between two readings). On the way through a wait it stops at every 10 ms tick and
    calls the tickers there, so a workload runs as a function of this clock's time."""

    def __init__(self, start_ns: int = 5_000 * S, step_ns: int = 0) -> None:
        self.ns = start_ns
        self.step_ns = step_ns
        self.tickers: list[Callable[[], None]] = []

    def now_ns(self) -> int:
        now = self.ns
        self.ns += self.step_ns
        return now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        until = self.ns + round(seconds * S)
        while not event.is_set():
            tick = (self.ns // TICK_NS + 1) * TICK_NS
            if tick > until:
                self.ns = max(self.ns, until)
                break
            self.ns = tick
            for ticker in self.tickers:
                ticker()
        return event.is_set()


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


def run(
    tmp_path: Path,
    faults: tuple[ScheduledFault, ...],
    duration: float = 0.6,
    serving: Callable[[StandInCluster, int], bool] | None = None,
    **kwargs: Any,
) -> Any:
    """An executor over stand-in nodes on a fake clock; ``serving`` says from the cluster and the clock's
    time whether it serves (None: no holding), other keywords go to the executor."""
    cluster = StandInCluster(tmp_path)
    clock = FakeClock()
    history = History(clock=clock.now_ns)
    nemesis = Nemesis(history)
    schedule = Schedule(seed=1, duration_s=duration, topology="shared_file(2)", faults=faults)
    lines: list[str] = []
    kwargs.setdefault("progress", lines.append)
    if serving is not None:
        kwargs["serving"] = lambda: (lambda now: now if serving(cluster, now) else None)(clock.now_ns())
    executor = ChaosExecutor(schedule, Faults(nemesis, cluster), cluster, clock=clock, **kwargs)  # type: ignore[arg-type]
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
    assert [e.started_at_s for e in executed] == [0.1, 0.15, 0.2]
    assert cluster.nodes["amq1"].events == ["kill", "start"]
    assert cluster.nodes["amq2"].events == ["pause", "resume"]
    assert not cluster.lock.exists()  # the lock file was deleted
    assert all(fault.healed for fault in nemesis.injected)
    nemesis_ops = [op.f for op in history.ops() if op.process == NEMESIS]
    assert nemesis_ops.count(FAULT_START) == nemesis_ops.count(FAULT_END) == 3
    # Healed in schedule order: the lock theft at once (0.2 s), the pause (0.25 s), the kill (0.3 s).
    assert [op.value["fault"] for op in history.ops() if op.f == FAULT_END] == ["steal-lock", "pause", "kill"]
    assert [e.healed_at_s for e in executed] == [0.3, 0.25, 0.2]
    assert executor.clock.ns == FakeClock().ns + round(0.6 * S)  # the run lasted the schedule's duration


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


def test_a_stop_ends_the_run_at_once_and_heals_what_is_open(tmp_path: Path) -> None:
    stop = threading.Event()
    faults = (
        ScheduledFault("kill", 0.05, 5.0, "master", "ms-broker-a"),
        ScheduledFault("pause", 0.1, 5.0, "slave", "ms-broker-a"),
    )
    executor, cluster, _, nemesis = run(tmp_path, faults, duration=11, progress=lambda line: stop.set())
    executed = executor.run(stop)
    assert executed[1].started_at_s is None  # stopped before its time
    assert all(fault.healed for fault in nemesis.injected) and cluster.nodes["amq1"].alive


class ServesFrom:
    """A cluster's serving state for the executor: not serving until ``at`` seconds after the first
    question (None: never)."""

    def __init__(self, at: float | None) -> None:
        self.at = at
        self.first: int | None = None

    def __call__(self, cluster: StandInCluster, now: int) -> bool:
        self.first = self.first if self.first is not None else now
        return self.at is not None and now - self.first >= round(self.at * S)


def test_a_fault_due_while_the_cluster_does_not_serve_waits_and_shifts_the_rest(tmp_path: Path) -> None:
    faults = (
        ScheduledFault("kill", 0.1, 0.2, "node", "ms-broker-a", "amq1"),
        ScheduledFault("pause", 0.3, 0.1, "node", "ms-broker-a", "amq2"),
    )
    executor, cluster, _, _ = run(tmp_path, faults, 0.6, ServesFrom(0.5))
    began = executor.clock.ns
    first, second = executor.run()
    # Held from its time (0.1 s) until the cluster served (0.5 s later); the next start moved as much.
    assert (first.held_s, first.started_at_s) == (0.5, 0.6), first
    assert (second.held_s, second.started_at_s) == (None, 0.8), second  # serving by then: on its shifted time
    # Durations as drawn, and the run ends as much later as it held.
    assert (first.healed_at_s, second.healed_at_s) == (0.8, 0.9), (first, second)
    assert executor.shift_s == 0.5
    assert executor.clock.ns - began == round(1.1 * S)
    assert cluster.nodes["amq1"].events == ["kill", "start"] and cluster.nodes["amq2"].events == ["pause", "resume"]


def test_open_faults_heal_on_time_while_a_later_one_is_held(tmp_path: Path) -> None:
    # The pause is what keeps the cluster down: it must heal at 0.35 s even though #1 waits from 0.15 s.
    faults = (
        ScheduledFault("pause", 0.05, 0.3, "node", "ms-broker-a", "amq1"),
        ScheduledFault("kill", 0.15, 0.1, "node", "ms-broker-a", "amq2"),
    )
    executor, _, _, _ = run(tmp_path, faults, 0.5, lambda cluster, now: not cluster.nodes["amq1"].paused)
    pause, kill = executor.run()
    assert pause.healed_at_s == 0.35, pause
    assert (kill.started_at_s, kill.held_s) == (0.35, 0.2), kill


def test_a_cluster_that_never_serves_holds_each_fault_within_the_bounds_and_then_starts_it(tmp_path: Path) -> None:
    faults = tuple(ScheduledFault("pause", 0.05 + 0.1 * i, 0.05, "node", "ms-broker-a", "amq1") for i in range(4))
    lines: list[str] = []
    executor, _, _, _ = run(
        tmp_path, faults, 0.6, ServesFrom(None), progress=lines.append, max_hold_s=0.2, hold_budget_s=0.5
    )
    executed = executor.run()
    # 0.2 s, 0.2 s, the 0.1 s left of the budget, then nothing: every fault still starts, in order.
    assert [e.held_s for e in executed] == [0.2, 0.2, 0.1, None]
    assert [e.started_at_s for e in executed] == [0.25, 0.55, 0.75, 0.85]
    assert any("started anyway after 0.2 s" in line for line in lines), lines


class SlowToServeCluster(StandInCluster):
    """Stand-in nodes behind a service that stops while a node is down or paused and serves again only
    ``recover_s`` after it is back, as a starved JVM that takes long to become master again."""

    def __init__(self, tmp_path: Path, recover_s: float, clock: FakeClock) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        super().__init__(tmp_path)
        self.recover_ns = round(recover_s * S)
        self.clock = clock
        self.back_at = 0
        self.nodes = {name: ComingBackNode(name, node.role, self) for name, node in self.nodes.items()}

    def serves(self) -> bool:
        return self.clock.ns >= self.back_at and all(n.alive and not n.paused for n in self.nodes.values())


class ComingBackNode(StandInNode):
    """A node whose return (start, resume) puts the cluster's service ``recover_s`` out."""

    def __init__(self, name: str, role: str, cluster: SlowToServeCluster) -> None:
        super().__init__(name, role)
        self.cluster = cluster

    def start(self) -> None:
        super().start()
        self.cluster.back_at = self.cluster.clock.ns + self.cluster.recover_ns

    def resume(self) -> None:
        super().resume()
        self.cluster.back_at = self.cluster.clock.ns + self.cluster.recover_ns


class Producer:
    """At each tick of the clock, records a receipted send while the cluster serves; keeps the time of the
    last one (the op's own, as the workload does)."""

    def __init__(self, cluster: SlowToServeCluster, history: History) -> None:
        self.cluster, self.history = cluster, history
        self.last_ns: int | None = None
        self.seq = 0

    def tick(self) -> None:
        if self.cluster.serves():
            op = self.history.record(1, "ok", SEND, MessageKey("p1", self.seq), node="amq1")
            self.last_ns, self.seq = op.time_ns, self.seq + 1


class ServingSpy(ChaosRun):
    """A chaos run that keeps every instant its serving check found the cluster serving at."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.found_serving: list[int] = []

    def _serving(self) -> int | None:
        at = super()._serving()
        if at is not None:
            self.found_serving.append(at)
        return at


def chaos_on_a_slow_cluster(
    tmp_path: Path,
    recover_s: float,
    *,
    hold: bool,
    max_hold_s: float = 5.0,
    history: History | None = None,
    clock: FakeClock | None = None,
    spy: bool = False,
) -> ChaosRun:
    """Three faults drawn closer together than the cluster recovers (1 s after each comes back), under a
    receipting producer; the exercise rule's lookback 0.3 s (2 s in real runs)."""
    faults = (
        ScheduledFault("kill", 0.5, 0.1, "node", "ms-broker-a", "amq1"),
        ScheduledFault("kill", 1.0, 0.1, "node", "ms-broker-a", "amq2"),
        ScheduledFault("restart", 1.4, 0.1, "node", "ms-broker-a", "amq1"),
    )
    clock = clock or FakeClock()
    cluster = SlowToServeCluster(tmp_path, recover_s, clock)
    history = history if history is not None else History(clock=clock.now_ns)
    producer = Producer(cluster, history)
    clock.tickers.append(producer.tick)
    made = (ServingSpy if spy else ChaosRun)(
        cluster,  # type: ignore[arg-type]
        Faults(Nemesis(history), cluster),  # type: ignore[arg-type]
        history,
        seed=1,
        duration_s=2.0,
        given=Schedule(seed=1, duration_s=2.0, topology=cluster.topology.name, faults=faults),
        progress=lambda line: None,
        last_receipt_ns=(lambda: producer.last_ns) if hold else None,
        lookback_s=0.3,
        max_hold_s=max_hold_s,
        clock=clock,
    )
    made.run()
    return made


def test_holding_faults_until_a_slow_cluster_serves_again_keeps_the_run_meaningful(tmp_path: Path) -> None:
    # As drawn, the second and third faults land while the cluster is still coming back from the first:
    # the run would be an error for showing nothing, on the harness's own account.
    drawn = chaos_on_a_slow_cluster(tmp_path / "drawn", 1.0, hold=False).exercise()
    assert drawn is not None and drawn.idle == (1, 2), drawn
    assert drawn.insufficient() is not None
    # Held until it serves, each fault hits a serving cluster: #1 from 1.0 s until 1.6 s (1 s after amq1
    # came back at 0.6 s), #2 from its shifted 2.0 s until 2.7 s (1 s after amq2 came back at 1.7 s). Each
    # is let go by the first receipt after the cluster recovers, at the very instant the rule judges.
    made = chaos_on_a_slow_cluster(tmp_path / "held", 1.0, hold=True)
    exercise = made.exercise()
    assert exercise is not None and exercise.idle == () and exercise.insufficient() is None, made.describe()
    assert [(e.started_at_s, e.held_s) for e in made.executed] == [(0.5, None), (1.6, 0.6), (2.7, 0.7)]
    described = made.describe()
    assert described is not None and described["held_s"] == 1.3, described
    assert described["schedule"]["faults"][1]["start_s"] == 1.0  # the schedule stays as drawn
    assert made.ended_ns is not None and made.started_ns is not None
    assert made.ended_ns - made.started_ns == round(3.3 * S)  # the drawn 2 s and the 1.3 s held


@pytest.mark.parametrize("step_ns", [1, 999_983])
def test_a_fault_let_go_on_a_serving_cluster_counts_as_exercised_however_time_moves(
    tmp_path: Path, step_ns: int
) -> None:
    # Time passes between any two readings of the clock (the run's start and the executor's, the serving
    # check and the fault's start): the rule still judges each held fault at the instant the check found
    # the cluster serving, so none of them is idle.
    made = chaos_on_a_slow_cluster(tmp_path, 1.0, hold=True, clock=FakeClock(step_ns=step_ns), spy=True)
    exercise = made.exercise()
    assert [e.held_s is not None for e in made.executed] == [False, True, True], made.executed
    assert exercise is not None and exercise.idle == (), made.describe()
    # Each fault is judged at an instant the serving check found the cluster serving, to the ns.
    assert isinstance(made, ServingSpy) and made.started_ns is not None
    judged = [made.started_ns + round(e.started_at_s * S) for e in made.executed if e.started_at_s is not None]
    assert len(judged) == 3 and set(judged) <= set(made.found_serving), (judged, made.found_serving)


def test_a_cluster_that_never_serves_again_is_still_an_error(tmp_path: Path) -> None:
    made = chaos_on_a_slow_cluster(tmp_path, 3600.0, hold=True, max_hold_s=0.3)
    exercise = made.exercise()
    assert exercise is not None and exercise.idle == (1, 2), exercise
    reason = exercise.insufficient()
    assert reason is not None and "only 1 of 3 started faults hit a serving cluster" in reason, reason
    assert [e.held_s for e in made.executed] == [None, 0.3, 0.3], made.executed


class CountedReads(History):
    reads = 0

    def __iter__(self) -> Iterator[Op]:
        self.reads += 1
        return super().__iter__()


def test_the_exercise_and_the_throughput_come_from_one_read_of_the_history(tmp_path: Path) -> None:
    clock = FakeClock()
    history = CountedReads(clock=clock.now_ns)
    made = chaos_on_a_slow_cluster(tmp_path, 0.0, hold=True, history=history, clock=clock)
    exercise = made.exercise()
    described = made.describe()
    assert history.reads == 1
    assert exercise is not None and described is not None
    assert described["faults_started"] == exercise.started == 3
    assert sum(window["sent"] for window in described["throughput"]) > 0, described["throughput"]
