"""Scenario results as JSON lines: one object per scenario run, appended to ``results.jsonl``."""

from __future__ import annotations

import errno
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

VerdictName = Literal["pass", "fail", "unsupported", "error"]
RESULTS_FILE = "results.jsonl"
# The figures every result line carries (Verdict.figures() must provide them all).
FIGURE_KEYS = (
    "attempted",
    "acknowledged",
    "received",
    "lost",
    "duplicated",
    "unexpected",
    "recovered",
    "reordered",
    "failover_ms",
    "max_unavailable_ms",
    "split_brain",
)


@dataclass
class ScenarioResult:
    scenario: str
    vendor: str
    vendor_version: str
    runtime: str
    topology: dict[str, Any]
    faults: list[dict[str, Any]]
    verdict: VerdictName
    seed: int
    figures: dict[str, Any] = field(default_factory=dict)
    history: str | None = None
    expected: str | None = None  # a documented, expected finding (e.g. a vendor's known split brain)
    difference: str | None = None  # why this vendor behaves differently on purpose (the scenario checks it)
    problems: list[str] = field(default_factory=list)
    reason: str | None = None  # why unsupported / error
    duration_s: float = 0.0
    finished_at: str = ""
    versions: dict[str, str] = field(default_factory=dict)  # database servers and the like: name -> version
    # Set when one run compares several installations of a vendor (--activemq-home twice): the column
    # this result goes in, e.g. "activemq-6.1.2"; None when the vendor's name says it.
    vendor_label: str | None = None
    # A chaos scenario's schedule, what each fault did, throughput per window and, with --shrink, the
    # smallest schedule that still failed.
    chaos: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def write_result(results_dir: Path, result: ScenarioResult) -> Path:
    """Append one line in a single O_APPEND write, so lines stay whole when runs share the file.

    A write the disk cut short (full) is taken back: the file never ends in half a line.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / RESULTS_FILE
    line = (json.dumps(result.to_json(), sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):
            end = os.lseek(fd, 0, os.SEEK_CUR)
            if os.fstat(fd).st_size == end:  # nobody appended after the partial line: remove it
                os.ftruncate(fd, end - written)
            raise OSError(
                errno.ENOSPC, f"only {written} of {len(line)} bytes of the result line were written", str(path)
            )
    finally:
        os.close(fd)
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every result line; an unfinished last line (no newline: its writer was killed mid-write) is skipped."""
    results = []
    with path.open(encoding="utf-8") as src:
        for line_no, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):
                    break
                raise ValueError(f"{path}:{line_no}: not a JSON result line: {exc}") from exc
    return results
