"""The HTML report in a real browser: Debian's headless Chromium loads it, its DOM has the matrix and a
timeline, and a screenshot is left under reports/ for people to look at."""

from __future__ import annotations

import itertools
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.history import FAULT_END, FAULT_START, NEMESIS, PROBE, PROBE_NODE, RECEIVE, SEND, History, MessageKey
from harness.report.browser import dump_dom, screenshot
from harness.report.html import write_html_report

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "reports" / "browser-test.png"


def _kill_under_load(failover_s: float) -> History:
    """Two producers and a consumer for 6 s; the master is killed at 2 s and service resumes after ``failover_s``."""
    clock = itertools.count()
    now = [0.0]
    history = History(clock=lambda: int(now[0] * 1e9) + next(clock))
    seq = itertools.count(1)
    for tick in range(120):
        now[0] = tick * 0.05
        master = "amq1" if now[0] < 2.0 else "amq2"
        if tick % 4 == 0:
            for node in ("amq1", "amq2"):
                accepting = node == master and not 2.0 <= now[0] < 2.0 + failover_s
                probe = {"round": tick // 4, "accepting": accepting, "group": "g"}
                history.record(PROBE, "ok", PROBE_NODE, probe, node)
        if tick == 40:
            history.record(NEMESIS, "info", FAULT_START, {"fault": "kill", "fault_id": 0, "target": "amq1"}, "amq1")
        if tick == 44:
            history.record(NEMESIS, "info", FAULT_END, {"fault": "kill", "fault_id": 0, "target": "amq1"}, "amq1")
        for producer in (0, 1):
            key = MessageKey(f"p{producer}", next(seq))
            history.record(producer, "invoke", SEND, key)
            down = 2.0 <= now[0] < 2.0 + failover_s
            now[0] += 0.002 + 0.001 * producer  # the receipt's latency
            history.record(producer, "info" if down else "ok", SEND, key, node=None if down else master)
            now[0] = tick * 0.05
            if not down:
                history.record(2, "ok", RECEIVE, key, node=master)
    return history


def _result(tmp: Path, vendor: str, verdict: str, failover_s: float, **extra: object) -> dict[str, object]:
    history = _kill_under_load(failover_s).save(tmp / "histories" / f"{vendor}.jsonl")
    return {
        "scenario": f"suites/ha/test_shared_file_kill.py::test_master_killed[{vendor}]",
        "vendor": vendor,
        "vendor_version": "5.17.2" if vendor == "activemq" else "0.1.0",
        "runtime": "local",
        "topology": {"name": "shared_file(2)", "groups": [{"name": "g", "nodes": ["amq1", "amq2"]}]},
        "faults": [{"fault": "kill", "fault_id": 0, "target": "amq1"}],
        "verdict": verdict,
        "seed": 1,
        "figures": {"failover_ms": [failover_s * 1000], "lost": 0, "attempted": 240},
        "history": str(history),
        "problems": [],
        "finished_at": "2026-12-07T00:00:00+00:00",
        **extra,
    }


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.classes: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.classes.extend((dict(attrs).get("class") or "").split())
        self.svgs += tag == "svg"


def test_chromium_shows_the_matrix_and_a_timeline(tmp_path: Path) -> None:
    results = [
        _result(tmp_path, "pybroker", "pass", 0.05),
        _result(tmp_path, "activemq", "fail", 1.5, problems=["[total-queue] lost p1#41: receipted at 2010.0 ms"]),
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    report = write_html_report([tmp_path], tmp_path / "index.html").path

    dom = _Tags()
    dom.feed(dump_dom(report))
    assert "matrix" in dom.classes, "Chromium's DOM has no comparison matrix"
    assert dom.classes.count("timeline") == 2, "each scenario with a history has a timeline"
    assert dom.svgs >= 8, f"expected the plots as inline SVG, Chromium saw {dom.svgs} <svg> elements"
    assert "fail" in dom.classes and "pass" in dom.classes

    shot = screenshot(report, SCREENSHOT, height=2400)
    assert shot.stat().st_size > 10_000, f"{shot} is too small to be a drawn page"
