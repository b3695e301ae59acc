"""What changed between two result sets (last night against the night before): verdicts that moved.

Cells are matched like the comparison's (scenario without its vendor parameter, vendor and runtime),
each set contributing its newest result per cell.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.report.compare import latest_results
from harness.report.matrix import cell_status

# How bad a cell's status is, to call a change a regression or an improvement.
_RANK = {"pass": 0, "known": 1, "unsupported": 1, "error": 2, "fail": 3}


@dataclass(frozen=True)
class Change:
    scenario: str
    column: str
    before: str | None  # the cell status in the older set (None: not run there)
    after: str | None
    reason: str | None  # the newer result's reason, or the older one's when the cell is gone

    @property
    def kind(self) -> str:
        if self.before is None:
            return "new"
        if self.after is None:
            return "gone"
        if _RANK[self.after] > _RANK[self.before]:
            return "worse"
        return "better" if _RANK[self.after] < _RANK[self.before] else "changed"


@dataclass(frozen=True)
class ChangeReport:
    changes: list[Change]
    unchanged: int

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "worse"]

    def to_json(self) -> dict[str, Any]:
        return {
            "unchanged": self.unchanged,
            "regressions": len(self.regressions),
            "changes": [{**asdict(c), "kind": c.kind} for c in self.changes],
        }

    def markdown(self) -> str:
        head = f"{len(self.changes)} cells changed ({len(self.regressions)} worse), {self.unchanged} unchanged" + (
            "." if self.changes else "; nothing changed verdict."
        )
        if not self.changes:
            return head + "\n"
        lines = [head, "", "| change | scenario | column | before | after | why |", "|---|---|---|---|---|---|"]
        order = {"worse": 0, "changed": 1, "new": 2, "gone": 3, "better": 4}
        for change in sorted(self.changes, key=lambda c: (order[c.kind], c.scenario, c.column)):
            why = (change.reason or "").replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(
                f"| {change.kind} | {change.scenario} | {change.column} | {change.before or 'not run'} "
                f"| {change.after or 'not run'} | {why} |"
            )
        return "\n".join(lines) + "\n"


def compare_result_sets(older: list[dict[str, Any]], newer: list[dict[str, Any]]) -> ChangeReport:
    before = latest_results(older)
    after = latest_results(newer)
    changes = []
    unchanged = 0
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        old_status = cell_status(old) if old else None
        new_status = cell_status(new) if new else None
        if old_status == new_status:
            unchanged += 1
            continue
        source = new or old or {}
        changes.append(Change(key[0], key[1], old_status, new_status, source.get("reason")))
    return ChangeReport(changes, unchanged)
