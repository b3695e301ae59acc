"""One chaos run on a running cluster: draw (or take) the schedule, print it, execute it, and keep what
the result line says about it (the schedule, what each fault did, throughput over time).

The cluster serves when a send was receipted within the exercise rule's lookback: the executor holds a
fault while it does not, so that the faults it starts are the ones that rule counts as exercised: the
executor's times count from the run's ``started_ns`` and a start it found serving is the instant judged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.chaos.clock import SYSTEM_CLOCK, Clock
from harness.chaos.executor import MAX_HOLD_S, ChaosExecutor, ExecutedFault
from harness.chaos.exercise import SERVING_LOOKBACK_S, Exercise, ExerciseJudge, lookback_ns
from harness.chaos.generator import generate
from harness.chaos.memory import RssSampler, rss_bytes, to_mb
from harness.chaos.schedule import Schedule, ScheduleError
from harness.chaos.throughput import ThroughputCounter
from harness.cluster import Cluster
from harness.faults.api import Faults
from harness.history import History

THROUGHPUT_WINDOW_S = 10.0


class ChaosRun:
    """A scenario's chaos: ``run(leave_out=...)`` blocks while the schedule runs (inside
    ``workload.running()``), then every fault it started is healed."""

    def __init__(
        self,
        cluster: Cluster,
        faults: Faults,
        history: History,
        *,
        seed: int,
        duration_s: float,
        given: Schedule | None = None,
        progress: Callable[[str], None] = print,
        last_receipt_ns: Callable[[], int | None] | None = None,
        lookback_s: float = SERVING_LOOKBACK_S,
        max_hold_s: float = MAX_HOLD_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.cluster = cluster
        self.faults = faults
        self.history = history
        self.seed = seed
        self.duration_s = duration_s
        self.given = given
        self.progress = progress
        # When the workload's last send was receipted (on ``clock``, as the history); None: never hold a fault.
        self.last_receipt_ns = last_receipt_ns
        self.lookback_s = lookback_s
        self.max_hold_s = max_hold_s
        self.clock = clock
        self.schedule: Schedule | None = None
        self.executed: list[ExecutedFault] = []
        self.started_ns: int | None = None
        self.ended_ns: int | None = None
        self.rss = RssSampler(clock=clock.now_ns)
        self.held_s = 0.0  # how much later than drawn the run's faults started, in all
        self._exercise: Exercise | None = None
        self._throughput: list[dict[str, Any]] | None = None

    def plan(self, leave_out: Mapping[str, str] | None = None) -> Schedule:
        """The schedule this run executes: the given one (checked against the topology), else the seed's."""
        topology = self.cluster.topology
        if self.given is not None:
            if self.given.topology != topology.name:
                raise ScheduleError(
                    f"--chaos-schedule: the schedule was drawn for topology {self.given.topology}, this scenario "
                    f"runs {topology.name}"
                )
            return self.given
        return generate(
            self.seed,
            topology,
            self.duration_s,
            runtime_faults=self.cluster.runtime.faults,
            left_out=dict(leave_out or {}),
            vendor=self.cluster.vendor.name,
            runtime=self.cluster.runtime.name,
        )

    def run(self, leave_out: Mapping[str, str] | None = None) -> list[ExecutedFault]:
        """Execute the schedule (``leave_out``: fault kinds not drawn, with why, e.g. a vendor's known
        data loss). Returns what became of each fault; skipped ones say why."""
        self.schedule = self.plan(leave_out)
        self.progress(self.schedule.describe())
        serving = self._serving if self.last_receipt_ns is not None else None
        executor = ChaosExecutor(
            self.schedule,
            self.faults,
            self.cluster,
            self.progress,
            serving=serving,
            max_hold_s=self.max_hold_s,
            clock=self.clock,
        )
        self.started_ns = self.clock.now_ns()
        self.rss.start()
        try:
            self.executed = executor.run(t0_ns=self.started_ns)
        finally:
            self.executed = executor.executed
            self.held_s = round(executor.shift_s, 2)
            self.ended_ns = self.clock.now_ns()
            self.rss.stop()
        started = sum(1 for e in self.executed if e.skipped is None)
        held = f" (held {self.held_s:.1f} s in all while the cluster did not serve)" if self.held_s else ""
        self.progress(f"chaos: {started} of {len(self.executed)} faults started, every one healed{held}")
        return self.executed

    def _serving(self) -> int | None:
        """Now, if a send was receipted within the lookback the exercise rule uses, else None. The receipt
        is read before the clock, so it is never later than the instant returned, which the executor takes
        as the fault's start: the rule then sees that same receipt in its lookback."""
        last = self.last_receipt_ns() if self.last_receipt_ns is not None else None
        now = self.clock.now_ns()
        return now if last is not None and now - last <= lookback_ns(self.lookback_s) else None

    def _read_history(self) -> None:
        """Which faults hit a serving cluster and the throughput per window, from one read of the history
        after the run (a soak's is read through from its file, not loaded)."""
        if self._exercise is not None or self.started_ns is None or self.ended_ns is None:
            return
        judge = ExerciseJudge(self.started_ns, self.executed, self.lookback_s)
        counter = ThroughputCounter(self.started_ns, self.ended_ns, THROUGHPUT_WINDOW_S)
        for op in iter(self.history):
            judge.feed(op)
            counter.feed(op)
        self._exercise = judge.result()
        self._throughput = counter.windows(self.rss.samples)

    def exercise(self) -> Exercise | None:
        """Which started faults hit a serving cluster (None before the schedule ran)."""
        self._read_history()
        return self._exercise

    def describe(self) -> dict[str, Any] | None:
        """The result line's ``chaos`` object: schedule, what each fault did, throughput and the harness's
        memory per window (``rss_mb``: start, largest and end of the run, and ``after_check`` now)."""
        if self.schedule is None:
            return None
        described: dict[str, Any] = {
            "schedule": self.schedule.to_json(),
            "executed": [e.to_json() for e in self.executed],
            "started": sum(1 for e in self.executed if e.skipped is None),
            "skipped": sum(1 for e in self.executed if e.skipped is not None),
            "held_s": self.held_s,
        }
        if self.started_ns is not None and self.ended_ns is not None:
            self._read_history()
            described["throughput_window_s"] = THROUGHPUT_WINDOW_S
            described["throughput"] = self._throughput
            summary = self.rss.summary_mb()
            if summary is not None:
                now = rss_bytes()
                described["rss_mb"] = {**summary, "after_check": to_mb(now) if now else None}
            described["history_ops"] = len(self.history)
            if self._exercise is not None:
                described.update(self._exercise.to_json())
        return described
