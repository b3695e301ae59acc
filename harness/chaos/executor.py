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

Times are kept in whole ns on the run's clock (``clock``; a test drives a fake one) from the origin the
caller gives, so that a start the executor found serving is the very instant the exercise rule judges.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.chaos.clock import SYSTEM_CLOCK, Clock
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
_MEASURED = ("started_at_s", "healed_at_s", "held_s")  # shown to the 10 ms, kept exact for the exercise rule


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


@dataclass
class ExecutedFault:
    """What became of one scheduled fault: ``on`` is the node or thing it hit, ``skipped`` why it did not start."""

    index: int
    kind: str
    start_s: float
    on: str | None = None
    # When its start was decided: the serving check that let it go (else its time), before its target was
    # resolved and it was injected; the instant the exercise rule judges.
    started_at_s: float | None = None
    healed_at_s: float | None = None
    skipped: str | None = None
    held_s: float | None = None  # how long its start waited for the cluster to serve (None: not at all)

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 2) if k in _MEASURED else v for k, v in self.__dict__.items() if v is not None}


class ChaosExecutor:
    """Runs ``schedule`` against ``cluster`` with ``faults``; ``run()`` blocks for the schedule's duration
    (plus what holding added). ``serving``: the instant (``clock`` ns) it found the cluster serving, None
    when it does not serve now; no ``serving`` holds nothing."""

    def __init__(
        self,
        schedule: Schedule,
        faults: Faults,
        cluster: Cluster,
        progress: Callable[[str], None] | None = None,
        *,
        serving: Callable[[], int | None] | None = None,
        max_hold_s: float = MAX_HOLD_S,
        hold_budget_s: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.schedule = schedule
        self.faults = faults
        self.cluster = cluster
        self.progress = progress or (lambda line: log.info("%s", line))
        self.serving = serving
        self.clock = clock
        self.max_hold_s = max_hold_s
        self.hold_budget_s = (
            max(2 * max_hold_s, HOLD_BUDGET_SHARE * schedule.duration_s) if hold_budget_s is None else hold_budget_s
        )
        self.executed = [ExecutedFault(i, f.kind, f.start_s) for i, f in enumerate(schedule.faults)]
        self._shift_ns = 0  # how much later than drawn the remaining faults start: every hold so far
        self._open: dict[int, Fault] = {}
        self._heals: list[tuple[int, int]] = []  # (due ns, index), a heap
        self._process_busy: dict[str, int] = {}  # node -> index of the process fault on it
        self._heal_errors: list[str] = []
        self._t0_ns = 0

    @property
    def shift_s(self) -> float:
        return self._shift_ns / 1e9

    def _now_ns(self) -> int:
        return self.clock.now_ns() - self._t0_ns

    def run(self, stop: threading.Event | None = None, *, t0_ns: int | None = None) -> list[ExecutedFault]:
        """Inject each fault at its time (held while the cluster does not serve) and heal it after its
        duration, until the schedule's end (or ``stop``), then heal what is still open. Returns what
        became of every fault. ``t0_ns``: the clock reading its times count from (default: now)."""
        order = sorted(range(len(self.schedule.faults)), key=lambda i: (self.schedule.faults[i].start_s, i))
        self._t0_ns = self.clock.now_ns() if t0_ns is None else t0_ns
        stop = stop or threading.Event()
        try:
            for index in order:
                scheduled = self.schedule.faults[index]
                # Heals due by this start come first (at a tie too), also those that fall during a hold.
                if not self._heal_until(_ns(scheduled.start_s) + self._shift_ns, stop):
                    break
                began = self._hold(index, stop)
                if began is None:
                    break
                due = _ns(scheduled.start_s) + self._shift_ns
                self._start(index, began)
                if not scheduled.duration_s:  # an instantaneous fault heals as soon as it started
                    self._heal_errors += self._heal(index)
                elif index in self._open:
                    heapq.heappush(self._heals, (due + _ns(scheduled.duration_s), index))
            else:
                self._heal_until(_ns(self.schedule.duration_s) + self._shift_ns, stop)
        finally:
            for index in list(self._open):
                self._heal_errors += self._heal(index)
        if self._heal_errors:
            raise RuntimeError(f"chaos: faults did not heal: {'; '.join(self._heal_errors)}")
        return self.executed

    def _wait_until(self, at_ns: int, stop: threading.Event) -> bool:
        """Wait until ``at_ns`` (from t0); whether ``stop`` was set."""
        return self.clock.wait(stop, max(0, at_ns - self._now_ns()) / 1e9)

    def _heal_until(self, end_ns: int, stop: threading.Event) -> bool:
        """Heal open faults as they fall due, until ``end_ns``; False when ``stop`` was set."""
        while True:
            if self._heals and self._heals[0][0] <= end_ns:
                due, index = self._heals[0]
                if self._wait_until(due, stop):
                    return False
                heapq.heappop(self._heals)
                self._heal_errors += self._heal(index)
                continue
            return not self._wait_until(end_ns, stop)

    def _served_at(self) -> int | None:
        """When (ns from t0) the cluster was found serving now, else None."""
        at = self.serving() if self.serving is not None else None
        return None if at is None else at - self._t0_ns

    def _hold(self, index: int, stop: threading.Event) -> int | None:
        """Wait while the cluster does not serve, within the bounds; the instant (ns from t0) the fault
        starts, None when ``stop`` was set. Open faults heal at their times meanwhile (a pause may be what
        keeps the cluster down)."""
        if self.serving is None:
            return self._now_ns()
        served = self._served_at()
        if served is not None:
            return served
        limit = min(_ns(self.max_hold_s), _ns(self.hold_budget_s) - self._shift_ns)
        if limit <= 0:
            return self._now_ns()
        record = self.executed[index]
        began = self._now_ns()
        self.progress(
            f"chaos [{began / 1e9:6.1f} s] #{index} {record.kind} held: the cluster is not serving "
            f"(up to {limit / 1e9:.0f} s)"
        )
        while not stop.is_set():
            served = self._served_at()
            if served is not None or self._now_ns() - began >= limit:
                break
            self._heal_until(min(began + limit, self._now_ns() + _ns(HOLD_POLL_S)), stop)
        start = served if served is not None else self._now_ns()
        held = start - began
        record.held_s = held / 1e9
        self._shift_ns += held
        if stop.is_set():
            return None
        if served is not None:
            how = "it serves again"
        else:
            how = f"it still does not serve: started anyway after {held / 1e9:.1f} s"
        self.progress(f"chaos [{start / 1e9:6.1f} s] #{index} {record.kind} released: {how}")
        return start

    # -- one fault ---------------------------------------------------------------------------------
    def _start(self, index: int, began_ns: int) -> None:
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
            record.started_at_s = began_ns / 1e9  # before injecting: a graceful stop may take seconds
            self._open[index] = fault
            if scheduled.kind in PROCESS_KINDS and node is not None:
                self._process_busy[node] = index
            self.progress(f"chaos [{record.started_at_s:6.1f} s] #{index} {scheduled.kind} on {record.on}")
            return
        self.progress(f"chaos [{self._now_ns() / 1e9:6.1f} s] #{index} {scheduled.kind} skipped: {record.skipped}")

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
            record.healed_at_s = self._now_ns() / 1e9
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
