"""The vendor comparison report: one row per scenario, one column per vendor, from results.jsonl.

Markdown for pull requests, JSON for programs (the same cells: verdict, marks and figures).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

_VENDOR_PARAM = re.compile(r"\[(.*)\]$")


def scenario_key(result: dict[str, Any]) -> str:
    """The scenario's node id without the vendor in its parameters, so vendors line up on one row."""
    nodeid = str(result["scenario"])
    match = _VENDOR_PARAM.search(nodeid)
    if not match:
        return nodeid
    ident = match.group(1)
    label = result.get("vendor_label")
    if label and (ident == label or ident.startswith(f"{label}-")):
        ident = ident[len(label) :].lstrip("-")  # "activemq-6.1.2-2-nodes" -> "2-nodes"
    params = [p for p in ident.split("-") if p and p != result["vendor"]]
    base = nodeid[: match.start()]
    return f"{base}[{'-'.join(params)}]" if params else base


def _cell(result: dict[str, Any]) -> str:
    verdict = str(result["verdict"])
    if result.get("expected") and verdict == "fail":
        verdict = "fail (known)"
    if result.get("difference"):
        verdict += ", differs on purpose"
    figures = result.get("figures") or {}
    details = []
    failover = [f for f in figures.get("failover_ms") or [] if f is not None]
    if failover:
        details.append(f"failover max {max(failover):.0f} ms")
    if figures.get("max_unavailable_ms"):
        # The per-fault figure misses outages that start after the fault (a master stepping down).
        details.append(f"longest outage {figures['max_unavailable_ms']:.0f} ms")
    if figures.get("lost"):
        details.append(f"lost {figures['lost']}")
    if figures.get("duplicated"):
        details.append(f"dup {figures['duplicated']}")
    if figures.get("split_brain"):
        details.append("split brain")
    return verdict + (f" ({', '.join(details)})" if details else "")


def column(result: dict[str, Any]) -> str:
    """One column per vendor and runtime; the default local runtime goes unnamed."""
    runtime = str(result.get("runtime") or "local")
    # Several installations of one vendor in a run (--activemq-home twice) each get their own column.
    vendor = str(result.get("vendor_label") or result["vendor"])
    return vendor if runtime == "local" else f"{vendor} ({runtime})"


def latest_results(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest result of each (scenario, vendor and runtime)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        key = (scenario_key(result), column(result))
        if key not in latest or str(result.get("finished_at", "")) >= str(latest[key].get("finished_at", "")):
            latest[key] = result
    return latest


def comparison_json(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison as data: the columns, and per scenario each column's verdict, marks and figures."""
    latest = latest_results(results)
    rows: dict[str, dict[str, Any]] = defaultdict(dict)
    for (scenario, vendor), result in latest.items():
        rows[scenario][vendor] = {
            "verdict": result["verdict"],
            "known_finding": result.get("expected"),
            "differs_on_purpose": result.get("difference"),
            "reason": result.get("reason"),
            "vendor_version": result.get("vendor_version"),
            "figures": result.get("figures") or {},
            "problems": len(result.get("problems") or []),
            "finished_at": result.get("finished_at"),
        }
    return {
        "columns": sorted({vendor for _, vendor in latest}),
        "scenarios": [{"scenario": name, "cells": rows[name]} for name in sorted(rows)],
    }


def comparison_markdown(results: list[dict[str, Any]]) -> str:
    """The newest result of each (scenario, vendor and runtime), as a Markdown table."""
    latest = latest_results(results)
    vendors = sorted({vendor for _, vendor in latest})
    rows: dict[str, dict[str, str]] = defaultdict(dict)
    for (scenario, vendor), result in latest.items():
        rows[scenario][vendor] = _cell(result)
    lines = ["| scenario | " + " | ".join(vendors) + " |", "|---|" + "---|" * len(vendors)]
    for scenario in sorted(rows):
        cells = [rows[scenario].get(v, "not run") for v in vendors]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
