"""The report's pictures, drawn by matplotlib and returned as SVG text to inline in HTML or attach to allure.

Each function takes plain data (a Timeline, figures from result lines) and returns one ``<svg>`` element.
Figures are made with matplotlib's object API (``Figure``, no pyplot): no display, no global figure
state, safe in CI and in threads of a pytest run.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from harness.report.timeline import Timeline

P = ParamSpec("P")

# Colours of the operation outcomes, shared with the HTML's legend.
OUTCOME_COLOURS = {"ok": "#2e7d32", "fail": "#c62828", "info": "#ef6c00"}
FAULT_COLOUR = "#b0bec5"
_SVG_START = re.compile(r"^.*?(?=<svg)", re.S)

# Text stays text in the SVG (searchable, small); the report's own sizes.
_STYLE: dict[Any, Any] = {"svg.fonttype": "none", "font.size": 8, "axes.titlesize": 9, "svg.hashsalt": "amq-harness"}


def styled(draw: Callable[P, str]) -> Callable[P, str]:
    """Draw under the report's style, without changing matplotlib's global settings for anyone else."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:
        with matplotlib.rc_context(_STYLE):
            return draw(*args, **kwargs)

    return wrapper


def _axes(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), dpi=96)
    return figure, figure.subplots()


def _svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML prolog or DOCTYPE, so it can sit inside HTML)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", dpi=110)
    return _SVG_START.sub("", buffer.getvalue(), count=1)


def _shade_faults(axes: Axes, timeline: Timeline, label: bool) -> None:
    end_of_run = timeline.duration_ms / 1000
    for window in timeline.faults:
        start = window.start_ms / 1000
        end = (window.end_ms if window.end_ms is not None else timeline.duration_ms) / 1000
        # A kill heals in milliseconds: keep its window visible at the scale of the run.
        end = max(end, start + end_of_run / 300)
        axes.axvspan(start, end, color=FAULT_COLOUR, alpha=0.45, lw=0)
        if label:
            axes.annotate(
                window.label,
                xy=(start, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, 2),
                textcoords="offset points",
                fontsize=7,
                rotation=20,
                color="#37474f",
            )


def master_spans(timeline: Timeline) -> list[tuple[float, float, tuple[str, ...]]]:
    """(start ms, end ms, masters) per run of probe rounds of one group that saw the same masters."""
    spans: list[tuple[float, float, tuple[str, ...]]] = []
    for group in sorted({r.group for r in timeline.masters}):
        rounds = [r for r in timeline.masters if r.group == group]
        for i, probe_round in enumerate(rounds):
            end = rounds[i + 1].time_ms if i + 1 < len(rounds) else timeline.duration_ms
            if spans and i > 0 and spans[-1][2] == probe_round.masters and spans[-1][1] == probe_round.time_ms:
                spans[-1] = (spans[-1][0], end, probe_round.masters)
            else:
                spans.append((probe_round.time_ms, end, probe_round.masters))
    return [span for span in spans if span[2]]


@styled
def timeline_svg(timeline: Timeline, title: str = "") -> str:
    """Lanes: one per client process (ok/fail/info marks), then one per node (master in each probe round)."""
    node_lanes = [f"node {n}" for n in timeline.nodes]
    lanes = list(timeline.lanes) + node_lanes
    height = 1.2 + 0.28 * max(len(lanes), 1)
    figure, axes = _axes(10, height)
    row = {lane: i for i, lane in enumerate(lanes)}
    for outcome, colour in OUTCOME_COLOURS.items():
        points = [(m.time_ms / 1000, row[m.lane]) for m in timeline.marks if m.type == outcome]
        if points:
            xs, ys = zip(*points, strict=True)
            size = 4 if outcome == "ok" else 14
            # Thousands of marks: drawn as one embedded image, so the SVG stays small and quick to draw.
            marker = "|" if outcome == "ok" else "x"
            axes.scatter(xs, ys, s=size, c=colour, marker=marker, label=outcome, lw=0.8, rasterized=True)
    # Master per probe round: a bar on the lane of each accepting node, consecutive equal rounds as one.
    for start, end, masters in master_spans(timeline):
        for node in masters:
            axes.broken_barh(
                [(start / 1000, max(end - start, 1) / 1000)],
                (row[f"node {node}"] - 0.3, 0.6),
                color="#c62828" if len(masters) > 1 else "#1565c0",
                lw=0,
            )
    _shade_faults(axes, timeline, label=True)
    axes.set_yticks(range(len(lanes)), [f"process {lane}" if lane.isdigit() else lane for lane in lanes])
    axes.set_ylim(-0.7, max(len(lanes), 1) - 0.3)
    axes.invert_yaxis()
    axes.set_xlim(0, max(timeline.duration_ms / 1000, 0.001))
    axes.set_xlabel("time since the first operation (s); node lanes: master per probe round (red: two at once)")
    if title:
        axes.set_title(title, loc="left", pad=14)
    if timeline.marks:
        axes.legend(loc="upper right", fontsize=7, markerscale=2, framealpha=0.8)
    return _svg(figure)


@styled
def latency_svg(timeline: Timeline) -> str:
    """Send latency (invoke to receipt) over time, one colour per producer, faults shaded."""
    figure, axes = _axes(5, 2.4)
    by_process: dict[str, list[tuple[float, float]]] = {}
    for point in timeline.latencies:
        by_process.setdefault(point.process, []).append((point.time_ms / 1000, point.latency_ms))
    for process, points in sorted(by_process.items()):
        xs, ys = zip(*points, strict=True)
        axes.scatter(xs, ys, s=3, label=f"producer {process}", rasterized=True)
    _shade_faults(axes, timeline, label=False)
    if timeline.latencies:
        axes.set_yscale("log")
        axes.yaxis.set_minor_locator(NullLocator())  # minor log ticks cost more to place than they tell
        axes.legend(fontsize=6, markerscale=2, loc="upper right")
    else:
        axes.text(0.5, 0.5, "no receipted sends", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlim(0, max(timeline.duration_ms / 1000, 0.001))
    axes.set_xlabel("time (s)")
    axes.set_ylabel("send latency (ms)")
    axes.set_title("send latency", loc="left")
    return _svg(figure)


@styled
def throughput_svg(timeline: Timeline) -> str:
    """Receipted sends and deliveries per second over time, faults shaded."""
    figure, axes = _axes(5, 2.4)
    xs = [p.time_ms / 1000 for p in timeline.rates]
    axes.step(xs, [p.sends_per_s for p in timeline.rates], where="post", label="receipted sends/s", lw=1)
    axes.step(xs, [p.receives_per_s for p in timeline.rates], where="post", label="deliveries/s", lw=1)
    _shade_faults(axes, timeline, label=False)
    axes.set_xlim(0, max(timeline.duration_ms / 1000, 0.001))
    axes.set_ylim(bottom=0)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("operations/s")
    axes.set_title("throughput", loc="left")
    axes.legend(fontsize=6, loc="upper right")
    return _svg(figure)


@styled
def failover_per_fault_svg(labels: Sequence[str], failover_ms: Sequence[float | None]) -> str:
    """One bar per fault: its failover time; a fault without recovery is marked, not drawn as zero."""
    figure, axes = _axes(5, 0.9 + 0.25 * max(len(labels), 1))
    ys = range(len(labels))
    values = [v if v is not None else 0.0 for v in failover_ms]
    colours = ["#1565c0" if v is not None else "#c62828" for v in failover_ms]
    axes.barh(list(ys), values, color=colours)
    for y, value in zip(ys, failover_ms, strict=True):
        text = f"{value:.0f} ms" if value is not None else "no recovery seen"
        axes.annotate(text, xy=(values[y], y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    axes.set_yticks(list(ys), list(labels))
    axes.invert_yaxis()
    axes.set_xlabel("failover time (ms): fault start to the first receipted send")
    axes.set_title("failover time per fault", loc="left")
    axes.margins(x=0.25)
    return _svg(figure)


@styled
def distribution_svg(samples: Mapping[str, Sequence[float]], title: str) -> str:
    """Box plot with every sample drawn on top (a strip), one box per column (vendor and runtime)."""
    names = list(samples)
    figure, axes = _axes(1.6 + 1.5 * max(len(names), 1), 2.8)
    data = [list(samples[name]) for name in names]
    axes.boxplot(data, showfliers=False, widths=0.5)
    for i, values in enumerate(data, start=1):
        # A deterministic spread, so two builds of one report are identical.
        offsets = [((j * 0.618) % 1 - 0.5) * 0.3 for j in range(len(values))]
        axes.scatter([i + o for o in offsets], values, s=8, alpha=0.7, color="#1565c0", zorder=3)
    # "pybroker / local / mariadb" stacked on three lines, so that neighbouring labels do not overlap.
    labels = ["\n".join([*name.split(" / "), f"(n={len(samples[name])})"]) for name in names]
    axes.set_xticks(range(1, len(names) + 1), labels)
    axes.set_yscale("log")
    axes.yaxis.set_minor_locator(NullLocator())
    axes.set_ylabel("failover time (ms)")
    axes.set_title(title, loc="left")
    return _svg(figure)
