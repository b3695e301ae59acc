"""The HTML report: one self-contained file (styles, script and plots inline; nothing fetched) that shows
the comparison matrix, the versions each column ran, failover-time distributions and, per scenario, its
timeline, latency, throughput, failover time per fault and the checkers' problems.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from harness.history import History
from harness.report import plots
from harness.report.inputs import load_result_sets
from harness.report.matrix import Cell, Column, Section, build_matrix, column_of, headline, topology_label
from harness.report.timeline import build_timeline

STATUS_TEXT = {
    "pass": "pass",
    "fail": "FAIL",
    "known": "known finding",
    "unsupported": "unsupported",
    "error": "error",
}

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.5em;margin:0 0 .2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}h3{margin:1em 0 .3em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#eceff1;cursor:pointer;text-align:left}td.cell{min-width:9em}
.pass{background:#e8f5e9}.fail{background:#ffcdd2}.known{background:#fff3c4}.unsupported{background:#eeeeee}
.error{background:#e1bee7}.verdict{font-weight:600}.figs{font-size:12px;color:#424242}
.badge{display:inline-block;font-size:11px;border-radius:3px;padding:0 4px;margin:1px;border:1px solid}
.badge.known{border-color:#f9a825}.badge.differs{background:#e3f2fd;border-color:#1e88e5}
.legend span{margin-right:1em}details.scenario{border:1px solid #ccc;margin:.6em 0;padding:.3em .6em}
details.scenario>summary{cursor:pointer}.plots{display:flex;flex-wrap:wrap;gap:8px}
.plots svg{max-width:100%;height:auto}ul.problems{font:12px monospace}small{color:#616161}
"""

# Sorting a matrix by a column: click its header (text order; verdicts group together).
_SCRIPT = """
document.querySelectorAll('table.matrix th').forEach(function(th, i){th.addEventListener('click', function(){
 var body = th.closest('table').tBodies[0], rows = Array.from(body.rows), asc = th.dataset.asc !== '1';
 rows.sort(function(a, b){var x = a.cells[i].innerText, y = b.cells[i].innerText;
  return asc ? x.localeCompare(y) : y.localeCompare(x);});
 rows.forEach(function(r){body.appendChild(r);}); th.dataset.asc = asc ? '1' : '0';});});
"""


def scenario_anchor(result: dict[str, Any]) -> str:
    digest = hashlib.sha1(f"{result['scenario']}|{column_of(result).label}".encode()).hexdigest()[:12]
    return f"s-{digest}"


def _badges(result: dict[str, Any]) -> str:
    badges = []
    if result.get("expected"):
        # On a pass, an intermittent finding that did not show this time.
        text = "known finding" if result.get("verdict") != "pass" else "known finding, not seen this run"
        badges.append(f'<span class="badge known" title="{escape(str(result["expected"]))}">{text}</span>')
    if result.get("difference"):
        badges.append(
            f'<span class="badge differs" title="{escape(str(result["difference"]))}">differs on purpose</span>'
        )
    return "".join(badges)


def _cell_html(cell: Cell) -> str:
    result = cell.result
    tooltip = "; ".join(f"{k}={v}" for k, v in sorted((result.get("figures") or {}).items()))
    if result.get("reason"):
        tooltip = f"{result['reason']}\n{tooltip}"
    runs = f" <small>({cell.runs} runs, newest shown)</small>" if cell.runs > 1 else ""
    figures = ", ".join(cell.headline)
    return (
        f'<td class="cell {cell.status}" data-status="{cell.status}" title="{escape(tooltip)}">'
        f'<a class="verdict" href="#{scenario_anchor(result)}">{STATUS_TEXT[cell.status]}</a>{runs} '
        f"{_badges(result)}" + (f'<div class="figs">{escape(figures)}</div>' if figures else "") + "</td>"
    )


_NOT_RUN = '<td class="cell notrun" data-status="notrun">not run</td>'


def _matrix_html(sections: list[Section]) -> str:
    parts = []
    for section in sections:
        head = "".join(f"<th>{escape(c.label)}</th>" for c in section.columns)
        rows = []
        for name, cells in section.rows.items():
            tds = "".join(_cell_html(cells[c]) if c in cells else _NOT_RUN for c in section.columns)
            rows.append(f"<tr><td>{escape(name)}</td>{tds}</tr>")
        parts.append(
            f'<h3>{escape(section.topology)}</h3><table class="matrix" data-topology="{escape(section.topology)}">'
            f"<thead><tr><th>scenario</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return "".join(parts)


def _versions_html(results: list[dict[str, Any]]) -> str:
    seen: dict[Column, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    brokers: dict[Column, str] = {}
    for result in results:
        column = column_of(result)
        brokers[column] = str(result["vendor"])
        seen[column][brokers[column]].add(str(result.get("vendor_version") or "unknown"))
        for component, version in (result.get("versions") or {}).items():
            seen[column][str(component)].add(str(version))
        seen[column]["seed"].add(str(result.get("seed")))
        seen[column]["results"].add(str(id(result)))
    rows = []
    for column in sorted(seen):
        components = seen[column]
        # The broker first, then what it ran on (database servers), alphabetically.
        broker = brokers[column]
        names = [broker, *sorted(n for n in components if n not in ("seed", "results", broker))]
        described = "; ".join(f"{escape(name)} {escape(', '.join(sorted(components[name])))}" for name in names)
        seeds = ", ".join(sorted(components["seed"]))
        rows.append(
            f"<tr><td>{escape(column.label)}</td><td>{described}</td><td>{len(components['results'])}</td>"
            f"<td>{escape(seeds)}</td></tr>"
        )
    return (
        '<table class="versions"><thead><tr><th>column</th><th>what ran (versions)</th><th>results</th>'
        f"<th>seeds</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def failover_samples(results: Iterable[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Every measured failover time, by topology and then column (all runs, not only the newest)."""
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        values = (result.get("figures") or {}).get("failover_ms") or []
        numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers:
            samples[topology_label(result)][column_of(result).label].extend(numbers)
    return samples


def _distributions_html(results: list[dict[str, Any]]) -> str:
    samples = failover_samples(results)
    if not samples:
        return "<p>No scenario measured a failover time.</p>"
    parts = []
    for topology in sorted(samples):
        by_column = {c: samples[topology][c] for c in sorted(samples[topology])}
        parts.append(
            f'<div class="distribution" data-topology="{escape(topology)}">'
            f"{plots.distribution_svg(by_column, f'failover time, {topology}')}</div>"
        )
    return f'<div class="plots">{"".join(parts)}</div>'


def fault_labels(result: dict[str, Any], count: int) -> list[str]:
    faults = result.get("faults") or []
    labels = []
    for i in range(count):
        fault = faults[i] if i < len(faults) and isinstance(faults[i], dict) else {}
        name = str(fault.get("fault", "fault"))
        target = fault.get("target")
        labels.append(f"{i + 1}. {name} {target}" if target else f"{i + 1}. {name}")
    return labels


def scenario_plots(result: dict[str, Any]) -> dict[str, str]:
    """The scenario's pictures by name (timeline, latency, throughput, failover per fault), as SVG.

    Empty when the scenario saved no history (a conformance scenario without a workload).
    """
    pictures: dict[str, str] = {}
    if result.get("history"):
        timeline = build_timeline(History.load(Path(result["history"])))
        pictures["timeline"] = plots.timeline_svg(timeline)
        if timeline.latencies or timeline.rates:
            pictures["latency"] = plots.latency_svg(timeline)
            pictures["throughput"] = plots.throughput_svg(timeline)
    failover = (result.get("figures") or {}).get("failover_ms") or []
    if failover:
        pictures["failover"] = plots.failover_per_fault_svg(fault_labels(result, len(failover)), failover)
    return pictures


def _scenario_html(cell: Cell) -> str:
    result = cell.result
    column = column_of(result)
    status = cell.status
    notes = []
    for key, label in (("reason", "why"), ("expected", "known finding"), ("difference", "differs on purpose")):
        if result.get(key):
            notes.append(f"<p><b>{label}:</b> {escape(str(result[key]))}</p>")
    figures = result.get("figures") or {}
    figure_rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in sorted(figures.items()))
    problems = result.get("problems") or []
    problem_list = (
        '<ul class="problems">' + "".join(f"<li>{escape(str(p))}</li>" for p in problems) + "</ul>"
        if problems
        else "<p>The checkers found no problem.</p>"
    )
    try:
        pictures = scenario_plots(result)
    except (OSError, ValueError) as exc:
        pictures = {}
        notes.append(f"<p><b>history unreadable:</b> {escape(str(exc))}</p>")
    picture_html = "".join(f'<div class="plot {name}">{svg}</div>' for name, svg in pictures.items())
    opened = " open" if status in ("fail", "error") else ""
    summary = ", ".join(headline(figures))
    return (
        f'<details class="scenario {status}" id="{scenario_anchor(result)}"{opened}>'
        f"<summary><b>{escape(str(result['scenario']))}</b> on {escape(column.label)}: "
        f'<span class="verdict">{STATUS_TEXT[status]}</span> {_badges(result)} <small>{escape(summary)}</small>'
        f"</summary>{''.join(notes)}"
        f"<p><small>seed {escape(str(result.get('seed')))}, {escape(str(result.get('duration_s', '?')))} s, "
        f"finished {escape(str(result.get('finished_at')))}, history {escape(str(result.get('history')))}</small></p>"
        f'<div class="plots">{picture_html}</div>'
        f"<h4>Problems the checkers found</h4>{problem_list}"
        f'<details><summary>figures</summary><table class="figures">{figure_rows}</table></details>'
        "</details>"
    )


def render_html(results: list[dict[str, Any]], title: str = "amq-harness report") -> str:
    sections = build_matrix(results)
    counts: dict[str, int] = defaultdict(int)
    for section in sections:
        for cells in section.rows.values():
            for cell in cells.values():
                counts[cell.status] += 1
    summary = ", ".join(f"{counts[s]} {STATUS_TEXT[s]}" for s in STATUS_TEXT if counts[s])
    details = "".join(
        f"<h3>{escape(section.topology)}</h3>"
        + "".join(_scenario_html(cells[c]) for cells in section.rows.values() for c in section.columns if c in cells)
        for section in sections
    )
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    legend = "".join(f'<span class="{s}">&nbsp;{STATUS_TEXT[s]}&nbsp;</span>' for s in STATUS_TEXT)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{len(results)} results; newest per cell: {escape(summary)}. "
        f"Generated {generated}.</p>"
        f'<h2 id="matrix">Comparison matrix</h2><p class="legend">{legend} '
        '<span class="badge known">known finding</span>: a documented vendor failure, expected; '
        '<span class="badge differs">differs on purpose</span>: the scenario checks each vendor\'s own behaviour. '
        "Click a column header to sort, a verdict to see the scenario.</p>"
        f"{_matrix_html(sections)}"
        f'<h2 id="versions">What each column ran</h2>{_versions_html(results)}'
        f'<h2 id="failover">Failover time by vendor and topology</h2>{_distributions_html(results)}'
        f'<h2 id="scenarios">Scenarios</h2>{details}'
        f"<script>{_SCRIPT}</script></body></html>"
    )


@dataclass(frozen=True)
class BuiltReport:
    path: Path
    results: int
    seconds: float


def write_html_report(sources: list[Path], output: Path, title: str = "amq-harness report") -> BuiltReport:
    """Read the result sets, render the report and write it; raises FileNotFoundError for a missing set."""
    started = time.monotonic()
    results = load_result_sets(sources)
    document = render_html(results, title)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    return BuiltReport(output, len(results), time.monotonic() - started)
