"""What a person sees of one history: lanes of operations, fault windows, masters per probe round, rates.

Pure functions of a history (the same records the checkers read); times are in ms from the first record,
the origin the checkers' problem lines use, so a problem's "at 1234.5 ms" is found on the timeline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import FAULT_END, FAULT_START, NEMESIS, PROBE, PROBE_NODE, RECEIVE, SEND, Op, completions


@dataclass(frozen=True)
class Mark:
    """One completed client operation, drawn at its completion time on its process's lane."""

    lane: str
    time_ms: float
    type: str  # ok | fail | info
    f: str


@dataclass(frozen=True)
class FaultWindow:
    label: str  # e.g. "kill amq1"
    start_ms: float
    end_ms: float | None  # None: never healed within the history


@dataclass(frozen=True)
class MasterRound:
    """The nodes that accepted clients in one probe round of one group (none, one, or a split brain)."""

    time_ms: float
    group: str
    masters: tuple[str, ...]


@dataclass(frozen=True)
class LatencyPoint:
    time_ms: float  # when the send was invoked
    latency_ms: float  # invoke to receipt
    process: str


@dataclass(frozen=True)
class RatePoint:
    time_ms: float  # start of the bin
    sends_per_s: float  # receipted sends completed in the bin
    receives_per_s: float  # deliveries in the bin


@dataclass(frozen=True)
class Timeline:
    lanes: tuple[str, ...]
    marks: tuple[Mark, ...]
    faults: tuple[FaultWindow, ...]
    masters: tuple[MasterRound, ...]
    latencies: tuple[LatencyPoint, ...]
    rates: tuple[RatePoint, ...]
    duration_ms: float

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted({node for r in self.masters for node in r.masters}))


def _fault_label(value: object, node: str | None) -> str:
    if isinstance(value, dict):
        name = str(value.get("fault", "fault"))
        target = value.get("target") or node
        return f"{name} {target}" if target else name
    return f"fault {node}" if node else "fault"


def build_timeline(history: Iterable[Op], rate_bin_ms: float | None = None) -> Timeline:
    """Derive everything the per-scenario plots draw from one history."""
    ops = sorted(history, key=lambda op: op.index)
    if not ops:
        return Timeline((), (), (), (), (), (), 0.0)
    origin = min(op.time_ns for op in ops)

    def ms(op: Op) -> float:
        return (op.time_ns - origin) / 1e6

    duration = max(ms(op) for op in ops)
    marks: list[Mark] = []
    lanes: dict[str, None] = {}
    open_faults: dict[object, tuple[str, float]] = {}
    windows: list[FaultWindow] = []
    rounds: dict[tuple[int, str], tuple[float, list[str]]] = {}
    for op in ops:
        if op.process == NEMESIS:
            fault_id = op.value.get("fault_id", op.index) if isinstance(op.value, dict) else op.index
            if op.f == FAULT_START:
                open_faults[fault_id] = (_fault_label(op.value, op.node), ms(op))
            elif op.f == FAULT_END and fault_id in open_faults:
                label, start = open_faults.pop(fault_id)
                windows.append(FaultWindow(label, start, ms(op)))
        elif op.process == PROBE:
            if op.f == PROBE_NODE and isinstance(op.value, dict) and op.node is not None:
                slot = (int(op.value.get("round", 0)), str(op.value.get("group", "")))
                _, masters = rounds.setdefault(slot, (ms(op), []))
                if op.value.get("accepting"):
                    masters.append(op.node)
        elif op.type != "invoke":
            lane = str(op.process)
            lanes.setdefault(lane, None)
            marks.append(Mark(lane, ms(op), op.type, op.f))
    windows.extend(FaultWindow(label, start, None) for label, start in open_faults.values())

    by_index = {op.index: op for op in ops}
    latencies = []
    for invoke_index, done in completions(ops).items():
        invoke = by_index[invoke_index]
        if invoke.f != SEND or done.type != "ok" or invoke.process in (NEMESIS, PROBE):
            continue
        latencies.append(LatencyPoint(ms(invoke), (done.time_ns - invoke.time_ns) / 1e6, str(invoke.process)))

    return Timeline(
        lanes=tuple(sorted(lanes, key=_lane_order)),
        marks=tuple(marks),
        faults=tuple(sorted(windows, key=lambda w: w.start_ms)),
        masters=tuple(
            MasterRound(time, group, tuple(sorted(masters)))
            for (_, group), (time, masters) in sorted(rounds.items(), key=lambda item: item[1][0])
        ),
        latencies=tuple(sorted(latencies, key=lambda p: p.time_ms)),
        rates=_rates(ops, origin, duration, rate_bin_ms),
        duration_ms=duration,
    )


def _lane_order(lane: str) -> tuple[int, str]:
    # Producers before consumers, numbers in numeric order where the names are numbers.
    return (0, lane.zfill(8)) if lane.isdigit() else (1, lane)


def _rates(ops: list[Op], origin: int, duration_ms: float, bin_ms: float | None) -> tuple[RatePoint, ...]:
    """Receipted sends and deliveries per second, in bins of about 1/60 of the run (at least 100 ms)."""
    if duration_ms <= 0:
        return ()
    width = bin_ms or max(100.0, duration_ms / 60)
    sends: dict[int, int] = defaultdict(int)
    receives: dict[int, int] = defaultdict(int)
    for op in ops:
        if op.type != "ok" or op.process in (NEMESIS, PROBE):
            continue
        slot = int((op.time_ns - origin) / 1e6 // width)
        if op.f == SEND:
            sends[slot] += 1
        elif op.f == RECEIVE:
            receives[slot] += 1
    count = int(duration_ms // width) + 1
    per_s = 1000.0 / width
    return tuple(RatePoint(i * width, sends[i] * per_s, receives[i] * per_s) for i in range(count))
