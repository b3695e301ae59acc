import re
from pathlib import Path

from harness.report.allure_results import categories, environment, write_metadata

from .histories import result_line


def _first_match(status: str, message: str) -> str | None:
    for category in categories():
        if status in category["matchedStatuses"] and re.fullmatch(category.get("messageRegex", ".*"), message):
            return str(category["name"])
    return None


def test_categories_separate_findings_and_differences_from_real_failures():
    cases = [
        ("skipped", "XFAIL known finding: two masters\n\nAssertionError: x", "Known findings ("),
        ("passed", "XPASS known finding: sometimes loses one", "Known findings that did not"),
        ("passed", "differs on purpose: closes after ERROR", "Differences on purpose"),
        ("skipped", "Skipped: unsupported: runtime local cannot inject 'partition'", "Unsupported"),
        ("failed", "AssertionError: lost 3", "Broken promises"),
        ("broken", "ClusterError: no master", "Scenario or harness errors"),
    ]
    for status, message, expected in cases:
        found = _first_match(status, message)
        assert found is not None and found.startswith(expected), f"{status} {message!r}: filed under {found}"
    assert _first_match("passed", "") is None, "a plain pass stays out of every category"


def test_environment_names_each_vendor_version_runtime_database_and_seed():
    lines = [
        result_line("a[pybroker]", "pybroker", versions={"postgresql": "PostgreSQL 15.8"}),
        result_line("a[activemq]", "activemq", runtime="docker"),
    ]
    env = environment(lines, seed=42)
    assert env["vendor.activemq"] == "5.17.2" and env["vendor.pybroker"] == "0.1.0"
    assert env["runtime"] == "docker, local" and env["seed"] == "42"
    assert env["database.postgresql"] == "PostgreSQL 15.8"


def test_metadata_files_are_written_with_properties_escaped(tmp_path: Path):
    write_metadata(tmp_path, [result_line("a[pybroker]", "pybroker", versions={"mariadb": "MariaDB 10.11: x=y"})], 1)
    properties = (tmp_path / "environment.properties").read_text()
    assert "database.mariadb=MariaDB 10.11\\: x\\=y" in properties
    assert (tmp_path / "categories.json").is_file()
