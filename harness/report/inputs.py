"""Reading result sets for reports: one or more results directories (or results.jsonl files).

The nightly job runs its matrix in parallel jobs and downloads each job's results directory
somewhere else, so a history is looked up where the result line says and, failing that, under the
directory the line was read from (``histories/<file name>``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.report.results import RESULTS_FILE, read_results


def results_file(path: Path) -> Path:
    return path / RESULTS_FILE if path.is_dir() else path


def resolve_history(recorded: str | None, results_dir: Path) -> Path | None:
    if not recorded:
        return None
    path = Path(recorded)
    if path.is_file():
        return path
    moved = results_dir / "histories" / path.name
    return moved if moved.is_file() else None


def load_result_sets(paths: list[Path]) -> list[dict[str, Any]]:
    """Every result line of every set, with ``history`` pointing at a file that exists here (or None).

    Raises FileNotFoundError naming the first set that has no results file.
    """
    results: list[dict[str, Any]] = []
    for given in paths:
        source = results_file(given)
        if not source.is_file():
            raise FileNotFoundError(f"no results at {source} (a pytest run with --results-dir writes them)")
        for result in read_results(source):
            results.append({**result, "history": _as_str(resolve_history(result.get("history"), source.parent))})
    return results


def _as_str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def merge_result_sets(sources: list[Path], target: Path) -> int:
    """One results directory from several (the nightly job's parallel parts): every line, histories copied.

    Each line's ``history`` points into ``target/histories``, so the merged directory can be moved,
    archived, and compared with tomorrow's. Returns the number of result lines.
    """
    histories = target / "histories"
    histories.mkdir(parents=True, exist_ok=True)
    lines = []
    for result in load_result_sets(sources):
        found = result.get("history")
        if found:
            source = Path(found)
            destination = histories / source.name
            if destination.resolve() != source.resolve():
                shutil.copyfile(source, destination)
            result = {**result, "history": str(destination.resolve())}
        lines.append(json.dumps(result, sort_keys=True) + "\n")
    (target / RESULTS_FILE).write_text("".join(lines), encoding="utf-8")
    return len(lines)
