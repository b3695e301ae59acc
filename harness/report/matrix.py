"""The comparison matrix: scenarios x (vendor, runtime, database), grouped by topology, from result lines.

A cell is the newest result of one scenario in one column. Its headline is built from whatever figures
the result line carries (failover time first, then every figure that is set), so a figure a new checker
adds shows up without a change here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness.report.compare import scenario_key

_PARAMS = re.compile(r"\[(.*)\]$")
# Counts of traffic, not findings: shown in a cell's details, not its headline.
VOLUME_FIGURES = frozenset({"attempted", "acknowledged", "received", "max_unavailable_ms"})
# The figures a reader looks for first, in this order; any other figure follows alphabetically.
HEADLINE_ORDER = ("failover_ms", "lost", "stranded", "stuck", "duplicated", "redelivered_after_ack", "split_brain")
NO_DATABASE = "-"


@dataclass(frozen=True, order=True)
class Column:
    vendor: str
    runtime: str
    database: str  # NO_DATABASE when the topology has none

    @property
    def label(self) -> str:
        parts = [self.vendor, self.runtime] + ([self.database] if self.database != NO_DATABASE else [])
        return " / ".join(parts)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


def databases_of(result: dict[str, Any]) -> list[str]:
    groups = (result.get("topology") or {}).get("groups") or []
    return sorted({str(g["jdbc"]["database"]) for g in groups if isinstance(g.get("jdbc"), dict)})


def column_of(result: dict[str, Any]) -> Column:
    # Several installations of one vendor in a run (--activemq-home twice) each get their own column.
    vendor = str(result.get("vendor_label") or result["vendor"])
    return Column(vendor, str(result.get("runtime") or "local"), "+".join(databases_of(result)) or NO_DATABASE)


def row_of(result: dict[str, Any]) -> str:
    """The scenario's node id without the parameters that are columns (vendor or its label, database)."""
    nodeid = scenario_key(result)
    match = _PARAMS.search(nodeid)
    if not match:
        return nodeid
    params = [p for p in match.group(1).split("-") if p not in databases_of(result)]
    base = nodeid[: match.start()]
    return f"{base}[{'-'.join(params)}]" if params else base


def topology_label(result: dict[str, Any]) -> str:
    """The section a scenario is listed under: its topology's name, with the database left to the column."""
    topology = result.get("topology") or {}
    name = str(topology.get("name") or "no cluster")
    for database in databases_of(result):
        name = re.sub(rf",?\s*{re.escape(database)}\b", "", name)
    return name


def figure_text(name: str, value: Any) -> str | None:
    """How one figure reads in a cell; None when it says nothing (zero, false, empty)."""
    label = name.replace("_", " ")
    if isinstance(value, bool):
        return label if value else None
    if isinstance(value, int | float):
        if not value:
            return None
        return f"{label} {value:.0f} ms" if name.endswith("_ms") else f"{label} {value:g}"
    if isinstance(value, list):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        if name == "failover_ms":
            missing = sum(1 for v in value if v is None)
            parts = [f"failover max {max(numbers):.0f} ms"] if numbers else []
            if missing:
                parts.append(f"{missing} fault(s) without recovery")
            return ", ".join(parts) or None
        return f"{label} {len(value)}" if value else None
    if isinstance(value, dict):
        shown = ", ".join(f"{k}={v}" for k, v in list(value.items())[:3])
        more = f" and {len(value) - 3} more" if len(value) > 3 else ""
        return f"{label} {shown}{more}" if value else None
    return f"{label} {value}" if value not in (None, "") else None


def headline(figures: dict[str, Any]) -> list[str]:
    ordered = [k for k in HEADLINE_ORDER if k in figures]
    ordered += sorted(k for k in figures if k not in HEADLINE_ORDER and k not in VOLUME_FIGURES)
    return [text for key in ordered if (text := figure_text(key, figures[key])) is not None]


def cell_status(result: dict[str, Any]) -> str:
    """pass, fail, known (a documented vendor finding), unsupported or error: the cell's colour."""
    verdict = str(result.get("verdict"))
    if verdict == "fail" and result.get("expected"):
        return "known"
    return verdict if verdict in ("pass", "fail", "unsupported", "error") else "error"


@dataclass
class Cell:
    result: dict[str, Any]
    runs: int  # how many results this cell had (the newest is shown)

    @property
    def status(self) -> str:
        return cell_status(self.result)

    @property
    def headline(self) -> list[str]:
        return headline(self.result.get("figures") or {})


@dataclass
class Section:
    topology: str
    columns: list[Column]
    rows: dict[str, dict[Column, Cell]] = field(default_factory=dict)


def newest_first_key(result: dict[str, Any]) -> str:
    return str(result.get("finished_at") or "")


def build_matrix(results: list[dict[str, Any]]) -> list[Section]:
    """Sections by topology, each with the columns that ran something in it and one row per scenario."""
    cells: dict[str, dict[str, dict[Column, Cell]]] = defaultdict(lambda: defaultdict(dict))
    for result in sorted(results, key=newest_first_key):
        slot = cells[topology_label(result)][row_of(result)]
        column = column_of(result)
        runs = slot[column].runs + 1 if column in slot else 1
        slot[column] = Cell(result, runs)  # sorted oldest first: the newest wins
    sections = []
    for topology in sorted(cells):
        rows = cells[topology]
        columns = sorted({c for row in rows.values() for c in row})
        sections.append(Section(topology, columns, {name: rows[name] for name in sorted(rows)}))
    return sections
