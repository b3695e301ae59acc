import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.report.html import render_html, write_html_report
from harness.report.results import RESULTS_FILE

from .histories import failover_history, result_line


class Elements(HTMLParser):
    """Every start tag with its attributes, to look for elements without a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def having(self, tag: str, cls: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and cls in (a.get("class") or "").split()]


def parse(document: str) -> Elements:
    parser = Elements()
    parser.feed(document)
    return parser


@pytest.fixture
def results(tmp_path: Path) -> list[dict[str, object]]:
    history = failover_history().save(tmp_path / "histories" / "kill.jsonl")
    return [
        result_line(
            "suites/ha/t.py::test_kill[pybroker]",
            "pybroker",
            history=history,
            figures={"failover_ms": [650.0], "lost": 0, "attempted": 3},
        ),
        result_line(
            "suites/ha/t.py::test_kill[activemq]",
            "activemq",
            "fail",
            history=history,
            figures={"failover_ms": [None], "lost": 1, "stranded": 2},
            problems=["[total-queue] lost p1#7: receipted by amq1 at 1015.0 ms, never delivered"],
            reason="assert 1 == 0",
        ),
        result_line(
            "suites/ha/t.py::test_steal[activemq]",
            "activemq",
            "fail",
            expected="known finding: two masters with lockKeepAlivePeriod=0",
            figures={"split_brain": True},
        ),
        result_line(
            "suites/conformance/c.py::test_error[pybroker]",
            "pybroker",
            difference="closes the connection after an ERROR",
        ),
    ]


def test_the_matrix_shows_verdicts_marks_and_figures_per_column(results: list[dict[str, object]]):
    document = render_html(results)  # type: ignore[arg-type]
    elements = parse(document)
    (matrix,) = elements.having("table", "matrix")
    assert matrix["data-topology"] == "shared_file(2)"
    statuses = sorted(str(a["data-status"]) for a in elements.having("td", "cell"))
    assert statuses == ["fail", "known", "notrun", "notrun", "pass", "pass"]
    assert "lost 1" in document and "stranded 2" in document and "1 fault(s) without recovery" in document
    assert 'class="badge known"' in document and 'class="badge differs"' in document


def test_each_scenario_with_a_history_gets_its_timeline_and_plots(results: list[dict[str, object]]):
    document = render_html(results)  # type: ignore[arg-type]
    elements = parse(document)
    timelines = elements.having("div", "timeline")
    assert len(timelines) == 2, "two scenarios saved a history"
    assert len(elements.having("div", "latency")) == 2 and len(elements.having("div", "throughput")) == 2
    assert len(elements.having("div", "failover")) == 2
    assert "kill amq1" in document, "the fault window is labelled"
    assert "lost p1#7: receipted by amq1 at 1015.0 ms" in document, "the checkers' problems with keys and times"
    # A failing scenario is opened, a passing one folded.
    failing = [a for a in elements.having("details", "scenario") if "fail" in str(a["class"])]
    assert all("open" in a for a in failing)


def test_the_report_is_self_contained(results: list[dict[str, object]]):
    document = render_html(results)  # type: ignore[arg-type]
    elements = parse(document)
    loaders = ("script", "img", "link", "iframe")
    fetched = [(t, a) for t, a in elements.tags if t in loaders and (a.get("src") or a.get("href"))]
    assert fetched == [], f"the report loads something from outside: {fetched}"
    assert not re.search(r"""(?:src|href)=["']?https?://""", document)
    assert "<svg" in document


def test_versions_per_column_and_failover_distribution(results: list[dict[str, object]]):
    results[0]["versions"] = {"postgresql": "PostgreSQL 15.8"}
    document = render_html(results)  # type: ignore[arg-type]
    assert "activemq 5.17.2" in document and "pybroker 0.1.0" in document and "PostgreSQL 15.8" in document
    elements = parse(document)
    (distribution,) = elements.having("div", "distribution")
    assert distribution["data-topology"] == "shared_file(2)"


def test_a_history_moved_with_its_results_directory_is_found(tmp_path: Path, results: list[dict[str, object]]):
    import json

    moved = tmp_path / "downloaded"
    (moved / "histories").mkdir(parents=True)
    failover_history().save(moved / "histories" / "kill.jsonl")
    line = {**results[0], "history": "/elsewhere/on/the/runner/histories/kill.jsonl"}
    (moved / RESULTS_FILE).write_text(json.dumps(line) + "\n")
    built = write_html_report([moved], tmp_path / "index.html")
    assert built.results == 1
    assert 'class="plot timeline"' in built.path.read_text()


def test_a_missing_results_directory_is_an_error_that_names_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        write_html_report([tmp_path / "nowhere"], tmp_path / "index.html")


def test_versions_of_two_installations_of_one_vendor(results: list[dict[str, object]]):
    labelled = [
        {**results[1], "vendor_label": "activemq-5.17.2"},
        {**results[1], "vendor_label": "activemq-6.1.2", "vendor_version": "6.1.2"},
    ]
    document = render_html(labelled)  # type: ignore[arg-type]
    assert "activemq-6.1.2 / local</td><td>activemq 6.1.2" in document
    assert "activemq-5.17.2 / local</td><td>activemq 5.17.2" in document
