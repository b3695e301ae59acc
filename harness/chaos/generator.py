"""Draw a chaos schedule from a seed: how many faults, which, on what, when and for how long.

The same seed, topology, menu and duration give the same schedule, on any machine. Faults overlap or
not as the draw falls, except that one concrete target (a named node, the database, the ZooKeeper
ensemble, a link) carries one fault at a time; faults on roles (master, slave) are resolved when they
start, and the executor skips one whose node is already under a process fault.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from harness.chaos.menu import FaultChoice, Target, fault_menu
from harness.chaos.schedule import Schedule, ScheduledFault, ScheduleError
from harness.topology.model import Topology

# A schedule leaves the cluster this long before its first fault (the workload gets going) and after
# its last one ends (the cluster recovers under load before the checks).
WARM_UP_S = 3.0
SETTLE_S = 5.0
# On average one fault starts every MEAN_GAP_S seconds.
MEAN_GAP_S = 6.0


def _concrete(target: Target) -> str | None:
    """A key for targets that name one thing for the whole run (not a role)."""
    if target.target in ("master", "slave"):
        return None
    return f"{target.target}:{target.group}:{target.name}"


def _fault_count(rng: random.Random, window_s: float) -> int:
    mean = max(1.0, window_s / MEAN_GAP_S)
    return max(1, round(rng.uniform(0.5, 1.5) * mean))


def draw(
    seed: int, duration_s: float, menu: Sequence[FaultChoice], topology_name: str, *, attempts: int = 20
) -> tuple[ScheduledFault, ...]:
    if not menu:
        raise ScheduleError(f"chaos: no fault left to draw for topology {topology_name} (every kind excluded?)")
    window = duration_s - WARM_UP_S - SETTLE_S
    if window <= 0:
        raise ScheduleError(
            f"chaos: a duration of {duration_s:.0f} s leaves no time for faults (needs more than "
            f"{WARM_UP_S + SETTLE_S:.0f} s: {WARM_UP_S:.0f} s to warm up, {SETTLE_S:.0f} s to settle)"
        )
    rng = random.Random(f"chaos:{seed}")
    busy: dict[str, list[tuple[float, float]]] = {}
    faults: list[ScheduledFault] = []
    for _ in range(_fault_count(rng, window)):
        for _attempt in range(attempts):
            choice = menu[rng.randrange(len(menu))]
            target = choice.targets[rng.randrange(len(choice.targets))]
            start = round(WARM_UP_S + rng.uniform(0, window), 1)
            longest = min(choice.max_s, duration_s - SETTLE_S - start)
            if longest < choice.min_s:
                continue
            length = round(rng.uniform(choice.min_s, longest), 1) if choice.max_s else 0.0
            key = _concrete(target)
            # A concrete target takes one fault at a time (with a second to recover in between).
            if key and any(start < end + 1.0 and begin < start + length + 1.0 for begin, end in busy.get(key, [])):
                continue
            if key:
                busy.setdefault(key, []).append((start, start + length))
            params = dict(choice.params)
            faults.append(ScheduledFault(choice.kind, start, length, target.target, target.group, target.name, params))
            break
    return tuple(sorted(faults, key=lambda f: (f.start_s, f.kind)))


def generate(
    seed: int,
    topology: Topology,
    duration_s: float,
    *,
    runtime_faults: Iterable[str] = (),
    left_out: dict[str, str] | None = None,
    vendor: str = "",
    runtime: str = "",
) -> Schedule:
    """The schedule ``seed`` gives for ``topology`` over ``duration_s`` seconds, drawn from every fault the
    topology and runtime support except the kinds in ``left_out`` (kind -> why)."""
    left_out = dict(left_out or {})
    menu = fault_menu(topology, runtime_faults, exclude=left_out)
    faults = draw(seed, duration_s, menu, topology.name)
    return Schedule(
        seed=seed,
        duration_s=duration_s,
        topology=topology.name,
        faults=faults,
        vendor=vendor,
        runtime=runtime,
        left_out=left_out,
    )
