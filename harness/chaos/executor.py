"""The chaos nemesis: runs a schedule against a cluster through the ``Faults`` vocabulary.

Each fault starts at its time, on its target resolved then (the master of a group is whichever node
serves at that moment), and heals after its duration; everything still open heals when the schedule
ends, also when the run fails or is interrupted. A fault that cannot start in the cluster's state at
that moment (no master to kill, a node already under a process fault, a lock file that is not there)
is skipped and reported, not an error: under chaos such states are expected.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.chaos.menu import PROCESS_KINDS
from harness.chaos.schedule import Schedule, ScheduledFault
from harness.cluster import Cluster
from harness.errors import ScenarioError
from harness.faults.api import Faults
from harness.faults.base import Fault

log = logging.getLogger("harness.chaos")

# Mistakes in the harness or the schedule: they stop the run (verdict error) instead of being skipped.
_MISTAKES = (ScenarioError, TypeError, AttributeError, KeyError, NameError, NotImplementedError)


@dataclass
class ExecutedFault:
    """What became of one scheduled fault: ``on`` is the node or thing it hit, ``skipped`` why it did not start."""

    index: int
    kind: str
    start_s: float
    on: str | None = None
    started_at_s: float | None = None
    healed_at_s: float | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class ChaosExecutor:
    """Runs ``schedule`` against ``cluster`` with ``faults``; ``run()`` blocks for the schedule's duration."""

    def __init__(
        self, schedule: Schedule, faults: Faults, cluster: Cluster, progress: Callable[[str], None] | None = None
    ) -> None:
        self.schedule = schedule
        self.faults = faults
        self.cluster = cluster
        self.progress = progress or (lambda line: log.info("%s", line))
        self.executed = [ExecutedFault(i, f.kind, f.start_s) for i, f in enumerate(schedule.faults)]
        self._open: dict[int, Fault] = {}
        self._process_busy: dict[str, int] = {}  # node -> index of the process fault on it
        self._t0 = 0.0

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def run(self, stop: threading.Event | None = None) -> list[ExecutedFault]:
        """Inject and heal each fault at its time until the schedule's end (or ``stop``), then heal what
        is still open. Returns what became of every fault."""
        events: list[tuple[float, int, int]] = []  # (time, 0 heal / 1 inject, index): heals first at a tie
        for index, fault in enumerate(self.schedule.faults):
            events.append((fault.start_s, 1, index))
            if fault.duration_s:  # an instantaneous fault heals as soon as it started
                events.append((fault.end_s, 0, index))
        events.sort()
        self._t0 = time.monotonic()
        stop = stop or threading.Event()
        heal_errors: list[str] = []
        try:
            for at, action, index in events:
                if stop.wait(max(0.0, at - self._now())):
                    break
                if action == 1:
                    self._start(index)
                    if not self.schedule.faults[index].duration_s:
                        heal_errors += self._heal(index)
                else:
                    heal_errors += self._heal(index)
            stop.wait(max(0.0, self.schedule.duration_s - self._now()))
        finally:
            for index in list(self._open):
                heal_errors += self._heal(index)
        if heal_errors:
            raise RuntimeError(f"chaos: faults did not heal: {'; '.join(heal_errors)}")
        return self.executed

    # -- one fault ---------------------------------------------------------------------------------
    def _start(self, index: int) -> None:
        scheduled = self.schedule.faults[index]
        record = self.executed[index]
        try:
            node = self._resolve_node(scheduled, index)
            if scheduled.kind in PROCESS_KINDS and node is not None:
                busy = self._process_busy.get(node)
                if busy is not None:
                    raise _Skip(f"{node} is under fault #{busy} ({self.schedule.faults[busy].kind})")
                if not self.cluster.nodes[node].alive:
                    raise _Skip(f"{node} is not running")
            fault = self._inject(scheduled, node)
        except _Skip as skip:
            record.skipped = str(skip)
        except _MISTAKES:
            raise
        except Exception as exc:  # the cluster's state made the fault impossible now
            record.skipped = f"could not start: {type(exc).__name__}: {exc}"
        else:
            record.on = node or scheduled.on()
            record.started_at_s = round(self._now(), 2)
            self._open[index] = fault
            if scheduled.kind in PROCESS_KINDS and node is not None:
                self._process_busy[node] = index
            self.progress(f"chaos [{record.started_at_s:6.1f} s] #{index} {scheduled.kind} on {record.on}")
            return
        self.progress(f"chaos [{self._now():6.1f} s] #{index} {scheduled.kind} skipped: {record.skipped}")

    def _heal(self, index: int) -> list[str]:
        fault = self._open.pop(index, None)
        if fault is None:
            return []
        for node, busy in list(self._process_busy.items()):
            if busy == index:
                del self._process_busy[node]
        record = self.executed[index]
        try:
            fault.heal()
        except Exception as exc:
            return [f"#{index} {record.kind} on {record.on}: {exc}"]
        finally:
            record.healed_at_s = round(self._now(), 2)
        if self.schedule.faults[index].duration_s:
            self.progress(f"chaos [{record.healed_at_s:6.1f} s] #{index} {record.kind} on {record.on} healed")
        return []

    def _resolve_node(self, scheduled: ScheduledFault, index: int) -> str | None:
        """The node a fault on a role or a node hits now; None for the database, ZooKeeper, store, links."""
        if scheduled.target == "node":
            return scheduled.name
        if scheduled.target not in ("master", "slave"):
            return None
        group = self.cluster.group(scheduled.group)
        roles = self.cluster.roles()
        candidates = sorted(n for n in group.nodes if roles.get(n) == scheduled.target)
        if not candidates:
            raise _Skip(f"no {scheduled.target} in {group.name} (roles {roles})")
        # Several masters (a split brain) or slaves: one drawn from the schedule's seed and the fault's place.
        return random.Random(f"{self.schedule.seed}:{index}").choice(candidates)

    def _inject(self, scheduled: ScheduledFault, node: str | None) -> Fault:
        faults, kind, params = self.faults, scheduled.kind, scheduled.params
        if kind == "kill":
            return faults.kill(str(node))
        if kind == "pause":
            return faults.pause(str(node))
        if kind == "restart":
            return faults.restart(str(node))
        if kind == "partition":
            return faults.partition(str(node))
        if kind == "steal_lock":
            return faults.steal_lock(scheduled.group, how=params.get("how", "delete"))
        if kind == "database_outage":
            return faults.database_outage(scheduled.group)
        if kind == "kill_db_sessions":
            return faults.kill_db_sessions(str(node))
        if kind == "isolate_clients":
            return faults.isolate_clients(str(node))
        if kind == "kill_zookeeper":
            return faults.kill_zookeeper(int(params.get("count", 1)), scheduled.group)
        if kind == "pause_zookeeper":
            return faults.pause_zookeeper(int(params.get("count", 1)), scheduled.group)
        if kind == "cut_zookeeper":
            return faults.cut_zookeeper(self.cluster.node(str(node)))
        link = scheduled.name if scheduled.target == "link" else str(node)
        if kind == "cut_link":
            return faults.cut_link(str(link))
        if kind == "blackhole":
            return faults.blackhole(str(link))
        if kind == "slow_link":
            return faults.slow_link(str(link), latency_ms=float(params.get("latency_ms", 200)))
        if kind == "reset_peer":
            return faults.reset_peer(str(link), after_ms=int(params.get("after_ms", 0)))
        raise ScenarioError(f"chaos: fault kind {kind!r} has no executor (schedule fault at {scheduled.start_s} s)")


class _Skip(Exception):
    """The fault cannot start in the cluster's state at its time."""
