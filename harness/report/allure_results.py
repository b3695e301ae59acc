"""allure: the report's plots attached to each test, the run's environment and the categories that set
known findings and differences on purpose apart from real failures.

Everything here is optional: without allure-pytest (or without ``--alluredir``) nothing is written.
"""

from __future__ import annotations

import json
import platform
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.report.html import scenario_plots

# Messages the allure-pytest listener gives these outcomes, matched by categories.json:
# a strict known finding is an xfail ("XFAIL known finding: ..."), an intermittent one that did not show
# an xpass ("XPASS known finding: ..."), an unsupported cell a skip ("Skipped: unsupported: ..."), and
# a difference on purpose carries the message the plugin sets on the passed test.
DIFFERS_PREFIX = "differs on purpose: "


def categories() -> list[dict[str, Any]]:
    """allure's categories.json: matched in order; what matches none stays a product or test defect."""
    return [
        {
            "name": "Known findings (documented vendor failures, seen as expected)",
            "matchedStatuses": ["skipped"],
            "messageRegex": r"(?s)XFAIL known finding.*",
        },
        {
            "name": "Known findings that did not show this run (intermittent)",
            "matchedStatuses": ["passed"],
            "messageRegex": r"(?s)XPASS known finding.*",
        },
        {
            "name": "Differences on purpose (each vendor checked against its own behaviour)",
            "matchedStatuses": ["passed"],
            "messageRegex": rf"(?s){DIFFERS_PREFIX}.*",
        },
        {
            "name": "Unsupported on this vendor or runtime",
            "matchedStatuses": ["skipped"],
            "messageRegex": r"(?s).*unsupported: .*",
        },
        {"name": "Broken promises (the system under test failed)", "matchedStatuses": ["failed"]},
        {"name": "Scenario or harness errors", "matchedStatuses": ["broken"]},
    ]


def environment(results: Iterable[dict[str, Any]], seed: int | None = None) -> dict[str, str]:
    """environment.properties: vendors and versions, runtimes, databases, seed(s), the machine."""
    seen: dict[str, set[str]] = defaultdict(set)
    for result in results:
        seen[f"vendor.{result['vendor']}"].add(str(result.get("vendor_version") or "unknown"))
        seen["runtime"].add(str(result.get("runtime") or "local"))
        seen["seed"].add(str(result.get("seed")))
        for component, version in (result.get("versions") or {}).items():
            seen[f"database.{component}"].add(str(version))
    if seed is not None:
        seen["seed"] = {str(seed)}
    properties = {key: ", ".join(sorted(values)) for key, values in sorted(seen.items())}
    properties["python"] = platform.python_version()
    properties["machine"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    return properties


def _escape_property(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")


def write_metadata(alluredir: Path, results: list[dict[str, Any]], seed: int | None = None) -> None:
    """Write environment.properties and categories.json into allure's results directory."""
    alluredir.mkdir(parents=True, exist_ok=True)
    lines = [f"{_escape_property(k)}={_escape_property(v)}" for k, v in environment(results, seed).items()]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (alluredir / "categories.json").write_text(json.dumps(categories(), indent=2) + "\n", encoding="utf-8")


def attach_plots(result: dict[str, Any]) -> int:
    """Attach the scenario's timeline, latency, throughput and failover plots (SVG) to the running test."""
    import allure

    pictures = scenario_plots(result)
    for name, svg in pictures.items():
        allure.attach(svg, name=f"{name}.svg", attachment_type=allure.attachment_type.SVG)
    return len(pictures)
