"""The chaos nemesis: runs a schedule against a cluster through the ``Faults`` vocabulary.

Each fault starts at its time, on its target resolved then (the master of a group is whichever node
serves at that moment), and heals after its duration; everything still open heals when the schedule
ends, also when the run fails or is interrupted. A fault that cannot start in the cluster's state at
that moment (no master to kill, a node already under a process fault, a lock file that is not there)
is skipped and reported, not an error: under chaos such states are expected.

A fault whose time comes while the cluster is not serving (``serving()`` is false: no send receipted
lately, it is still down from an earlier fault) is held until it serves again, for at most
``max_hold_s`` and ``hold_budget_s`` over the run: on a loaded machine a JVM can take longer to become
master again than the gap the seed drew, and a fault on a cluster that is down puts nothing at risk.
Holding shifts every later start by as long as it held (the run ends that much later), so the order,
the gaps between starts and every duration stay as drawn; faults already open heal at their times.
``ExecutedFault.started_at_s`` and ``held_s`` say when each one really started.
"""

from __future__ import annotations

import heapq
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
# A fault waits at most this long for the cluster to serve again (a starved JVM took 10-45 s to become
# master); over a run, holds add at most HOLD_BUDGET_SHARE of its duration, and never less than two
# holds' worth: a cluster that never serves again ends the run late, not never.
MAX_HOLD_S = 60.0
HOLD_BUDGET_SHARE = 1.0
# How often a held fault looks whether the cluster serves again.
HOLD_POLL_S = 0.1


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
    held_s: float | None = None  # how long its start waited for the cluster to serve (None: not at all)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class ChaosExecutor:
    """Runs ``schedule`` against ``cluster`` with ``faults``; ``run()`` blocks for the schedule's duration
    (plus what holding added). ``serving``: whether the cluster serves now; None holds nothing."""

    def __init__(
        self,
        schedule: Schedule,
        faults: Faults,
        cluster: Cluster,
        progress: Callable[[str], None] | None = None,
        *,
        serving: Callable[[], bool] | None = None,
        max_hold_s: float = MAX_HOLD_S,
        hold_budget_s: float | None = None,
    ) -> None:
        self.schedule = schedule
        self.faults = faults
        self.cluster = cluster
        self.progress = progress or (lambda line: log.info("%s", line))
        self.serving = serving
        self.max_hold_s = max_hold_s
        self.hold_budget_s = (
            max(2 * max_hold_s, HOLD_BUDGET_SHARE * schedule.duration_s) if hold_budget_s is None else hold_budget_s
        )
        self.executed = [ExecutedFault(i, f.kind, f.start_s) for i, f in enumerate(schedule.faults)]
        self.shift_s = 0.0  # how much later than drawn the remaining faults start: every hold so far
        self._open: dict[int, Fault] = {}
        self._heals: list[tuple[float, int]] = []  # (due, index), a heap
        self._process_busy: dict[str, int] = {}  # node -> index of the process fault on it
        self._heal_errors: list[str] = []
        self._t0 = 0.0

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def run(self, stop: threading.Event | None = None) -> list[ExecutedFault]:
        """Inject each fault at its time (held while the cluster does not serve) and heal it after its
        duration, until the schedule's end (or ``stop``), then heal what is still open. Returns what
        became of every fault."""
        order = sorted(range(len(self.schedule.faults)), key=lambda i: (self.schedule.faults[i].start_s, i))
        self._t0 = time.monotonic()
        stop = stop or threading.Event()
        try:
            for index in order:
                scheduled = self.schedule.faults[index]
                # Heals due by this start come first (at a tie too), also those that fall during a hold.
                if not self._heal_until(scheduled.start_s + self.shift_s, stop):
                    break
                if not self._hold(index, stop):
                    break
                due = scheduled.start_s + self.shift_s
                self._start(index)
                if not scheduled.duration_s:  # an instantaneous fault heals as soon as it started
                    self._heal_errors += self._heal(index)
                elif index in self._open:
                    heapq.heappush(self._heals, (due + scheduled.duration_s, index))
            else:
                self._heal_until(self.schedule.duration_s + self.shift_s, stop)
        finally:
            for index in list(self._open):
                self._heal_errors += self._heal(index)
        if self._heal_errors:
            raise RuntimeError(f"chaos: faults did not heal: {'; '.join(self._heal_errors)}")
        return self.executed

    def _heal_until(self, end: float, stop: threading.Event) -> bool:
        """Heal open faults as they fall due, until ``end``; False when ``stop`` was set."""
        while True:
            if self._heals and self._heals[0][0] <= end:
                due, index = self._heals[0]
                if stop.wait(max(0.0, due - self._now())):
                    return False
                heapq.heappop(self._heals)
                self._heal_errors += self._heal(index)
                continue
            return not stop.wait(max(0.0, end - self._now()))

    def _hold(self, index: int, stop: threading.Event) -> bool:
        """Wait while the cluster does not serve, within the bounds; False when ``stop`` was set. Open
        faults heal at their times meanwhile (a pause may be what keeps the cluster down)."""
        if self.serving is None or self.serving():
            return True
        spent = sum(e.held_s or 0.0 for e in self.executed)
        limit = min(self.max_hold_s, self.hold_budget_s - spent)
        if limit <= 0:
            return True
        record = self.executed[index]
        began = self._now()
        self.progress(
            f"chaos [{began:6.1f} s] #{index} {record.kind} held: the cluster is not serving (up to {limit:.0f} s)"
        )
        served = False
        while not stop.is_set():
            served = self.serving()
            if served or self._now() - began >= limit:
                break
            self._heal_until(min(began + limit, self._now() + HOLD_POLL_S), stop)
        held = self._now() - began
        record.held_s = round(held, 2)
        self.shift_s += held
        if not stop.is_set():
            how = "it serves again" if served else f"it still does not serve: started anyway after {held:.1f} s"
            self.progress(f"chaos [{self._now():6.1f} s] #{index} {record.kind} released: {how}")
        return not stop.is_set()

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
            began = round(self._now(), 2)  # before injecting: a graceful stop may take seconds
            fault = self._inject(scheduled, node)
        except _Skip as skip:
            record.skipped = str(skip)
        except _MISTAKES:
            raise
        except Exception as exc:  # the cluster's state made the fault impossible now
            record.skipped = f"could not start: {type(exc).__name__}: {exc}"
        else:
            record.on = node or scheduled.on()
            record.started_at_s = began
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
