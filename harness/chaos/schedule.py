"""A chaos schedule as data: which fault, when, for how long, on what; JSON with a version field.

A target is a role resolved when the fault starts (``master`` or ``slave`` of a group: which node that
is depends on what earlier faults did), a node by name, the group's ``database`` or ``zookeeper``
ensemble, the ``store`` (its lock file), or a link by name. Replaying a schedule replays the same
faults at the same times on the same roles.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError

SCHEDULE_VERSION = 1
TARGETS = ("master", "slave", "node", "database", "zookeeper", "store", "link")
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ScheduleError(ScenarioError):
    """A schedule file or value that cannot be used: the message names the file and what is wrong."""


def parse_duration(text: str | float | int, what: str = "--chaos-duration") -> float:
    """Seconds from ``90``, ``90s``, ``1.5m``, ``30m``, ``2h`` or ``500ms``; negative or malformed is an error."""
    if isinstance(text, bool):
        raise ScheduleError(f"{what}: a duration such as 60, 60s, 30m or 1h, not {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        found = _DURATION.match(text)
        if found is None:
            raise ScheduleError(f"{what}: a duration such as 60, 60s, 30m or 1h (zero or more), not {text!r}")
        seconds = float(found.group(1)) * _UNITS[found.group(2)]
    if seconds < 0:
        raise ScheduleError(f"{what}: a duration must be zero or more, not {text!r}")
    return seconds


@dataclass(frozen=True)
class ScheduledFault:
    """One fault of a schedule: ``kind`` is a Faults method name (``kill``, ``database_outage`` ...),
    started ``start_s`` after the schedule starts and healed ``duration_s`` later (0: instantaneous)."""

    kind: str
    start_s: float
    duration_s: float
    target: str
    group: str | None = None
    name: str | None = None  # the node or link a "node" / "link" target names
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ScheduleError(f"fault {self.kind}: target must be one of {', '.join(TARGETS)}, not {self.target!r}")
        if self.target in ("node", "link") and not self.name:
            raise ScheduleError(f"fault {self.kind}: a {self.target} target needs a name")
        for label, value in (("start_s", self.start_s), ("duration_s", self.duration_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ScheduleError(f"fault {self.kind}: {label} must be a number of seconds >= 0, not {value!r}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def on(self) -> str:
        """The target as a person reads it: ``master of ms-broker-a``, ``amq2``, ``link amq1->amq3``."""
        if self.target in ("master", "slave"):
            return f"{self.target} of {self.group}" if self.group else self.target
        if self.target == "node":
            return str(self.name)
        if self.target == "link":
            return f"link {self.name}"
        return f"{self.target} of {self.group}" if self.group else self.target

    def describe(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in sorted(self.params.items()))
        span = f"for {self.duration_s:.1f} s" if self.duration_s else "(instantaneous)"
        return f"{self.start_s:7.1f} s  {self.kind} on {self.on()} {span}{extra}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Schedule:
    """Faults over ``duration_s`` seconds, drawn from ``seed`` for ``topology`` (or shrunk from such a
    schedule); ``left_out`` names the faults the scenario excluded and why (known vendor findings)."""

    seed: int | None
    duration_s: float
    topology: str
    faults: tuple[ScheduledFault, ...]
    vendor: str = ""
    runtime: str = ""
    left_out: dict[str, str] = field(default_factory=dict)
    version: int = SCHEDULE_VERSION

    def __post_init__(self) -> None:
        if self.duration_s < 0:
            raise ScheduleError(f"schedule: duration_s must be >= 0, not {self.duration_s!r}")
        late = [f for f in self.faults if f.end_s > self.duration_s + 1e-6]
        if late:
            raise ScheduleError(
                f"schedule: {late[0].kind} at {late[0].start_s} s ends at {late[0].end_s:.1f} s, after the "
                f"schedule's {self.duration_s} s"
            )

    def __len__(self) -> int:
        return len(self.faults)

    @property
    def fault_seconds(self) -> float:
        """The sum of every fault's duration: what shortening a schedule reduces."""
        return round(sum(f.duration_s for f in self.faults), 3)

    def with_faults(self, faults: tuple[ScheduledFault, ...] | list[ScheduledFault]) -> Schedule:
        ordered = tuple(sorted(faults, key=lambda f: (f.start_s, f.kind, f.target, f.name or "")))
        return replace(self, faults=ordered)

    def describe(self) -> str:
        seed = f"seed {self.seed}" if self.seed is not None else "no seed (a given or shrunk schedule)"
        head = (
            f"chaos schedule v{self.version}: {len(self.faults)} faults over {self.duration_s:.0f} s on "
            f"{self.topology} ({seed})"
        )
        lines = [head, *(f"  {f.describe()}" for f in self.faults)]
        lines.extend(f"  left out: {kind} ({why})" for kind, why in sorted(self.left_out.items()))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "topology": self.topology,
            "vendor": self.vendor,
            "runtime": self.runtime,
            "left_out": dict(self.left_out),
            "faults": [f.to_json() for f in self.faults],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n"

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dumps(), encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, data: Any, source: str = "schedule") -> Schedule:
        """A schedule from its JSON form; anything missing, extra or of the wrong kind is a ScheduleError
        naming ``source`` and the field."""
        if not isinstance(data, dict):
            raise ScheduleError(f"{source}: a chaos schedule is a JSON object, not {type(data).__name__}")
        version = data.get("version")
        if version != SCHEDULE_VERSION:
            raise ScheduleError(
                f"{source}: schedule version {version!r} is not supported (this harness reads version "
                f"{SCHEDULE_VERSION})"
            )
        known = {"version", "seed", "duration_s", "topology", "vendor", "runtime", "left_out", "faults"}
        extra = sorted(set(data) - known)
        if extra:
            raise ScheduleError(f"{source}: unknown field(s) {', '.join(extra)}; known: {', '.join(sorted(known))}")
        for required in ("duration_s", "topology", "faults"):
            if required not in data:
                raise ScheduleError(f"{source}: field {required!r} is missing")
        if not isinstance(data["faults"], list):
            raise ScheduleError(f"{source}: 'faults' must be a list")
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ScheduleError(f"{source}: 'seed' must be a whole number or null, not {seed!r}")
        faults = []
        fault_fields = {"kind", "start_s", "duration_s", "target", "group", "name", "params"}
        for index, raw in enumerate(data["faults"]):
            where = f"{source}: faults[{index}]"
            if not isinstance(raw, dict):
                raise ScheduleError(f"{where}: a fault is a JSON object, not {raw!r}")
            missing = sorted({"kind", "start_s", "duration_s", "target"} - set(raw))
            unknown = sorted(set(raw) - fault_fields)
            if missing or unknown:
                problem = f"missing {', '.join(missing)}" if missing else f"unknown field(s) {', '.join(unknown)}"
                raise ScheduleError(f"{where}: {problem}")
            if not isinstance(raw.get("params", {}), dict):
                raise ScheduleError(f"{where}: 'params' must be an object")
            try:
                faults.append(ScheduledFault(**raw))
            except ScheduleError as exc:
                raise ScheduleError(f"{where}: {exc}") from None
        try:
            duration = parse_duration(data["duration_s"], f"{source}: duration_s")
            return cls(
                seed=seed,
                duration_s=duration,
                topology=str(data["topology"]),
                faults=tuple(faults),
                vendor=str(data.get("vendor", "")),
                runtime=str(data.get("runtime", "")),
                left_out=dict(data.get("left_out") or {}),
            )
        except ScheduleError as exc:
            raise ScheduleError(f"{source}: {exc}") from None

    @classmethod
    def loads(cls, text: str, source: str = "schedule") -> Schedule:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScheduleError(f"{source}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        return cls.from_json(data, source)


def load_schedule(path: Path | str) -> Schedule:
    """Read a schedule file (a saved schedule, or a result line's ``chaos.schedule``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScheduleError(f"--chaos-schedule {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(
            f"--chaos-schedule {path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    # A whole result line works too: its schedule is under chaos.schedule.
    if isinstance(data, dict) and "version" not in data and isinstance(data.get("chaos"), dict):
        data = data["chaos"].get("schedule")
    return Schedule.from_json(data, f"--chaos-schedule {path}")
