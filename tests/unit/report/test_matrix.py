from harness.report.matrix import NO_DATABASE, Column, build_matrix, cell_status, headline, row_of, topology_label

from .histories import result_line


def test_the_headline_shows_failover_first_then_every_figure_that_is_set():
    figures = {
        "attempted": 900,
        "acknowledged": 900,
        "lost": 2,
        "duplicated": 0,
        "failover_ms": [120.0, 980.4],
        "split_brain": True,
        "max_unavailable_ms": 1500.0,
    }
    assert headline(figures) == ["failover max 980 ms", "lost 2", "split brain"]


def test_a_figure_the_matrix_has_never_heard_of_is_shown_when_set():
    # New checkers add figures (stuck, stranded, chaos schedules ...): no change here is needed.
    assert headline({"stuck": 3, "zz_new_counter": 4, "schedule": {"kill": 2}}) == [
        "stuck 3",
        "schedule kill=2",
        "zz new counter 4",
    ]
    assert headline({"stuck": 0, "zz_new_counter": 0, "schedule": {}}) == []


def test_a_fault_without_recovery_is_said_not_hidden():
    assert headline({"failover_ms": [None, 40.0]}) == ["failover max 40 ms, 1 fault(s) without recovery"]
    assert headline({"failover_ms": [None]}) == ["1 fault(s) without recovery"]


def test_a_documented_vendor_failure_is_a_known_finding_not_a_failure():
    assert cell_status(result_line("s[activemq]", "activemq", "fail", expected="split brain by default")) == "known"
    assert cell_status(result_line("s[activemq]", "activemq", "fail")) == "fail"
    assert cell_status(result_line("s[activemq]", "activemq", "unsupported")) == "unsupported"


def test_the_database_is_a_column_and_leaves_the_row_and_the_topology_name():
    line = result_line("t.py::test_kill[activemq-mariadb-lease]", "activemq", database="mariadb")
    assert row_of(line) == "t.py::test_kill[lease]"
    assert topology_label(line) == "jdbc(2, database)"


def test_matrix_groups_by_topology_with_the_columns_that_ran_there():
    lines = [
        result_line("t.py::test_kill[pybroker-postgresql]", "pybroker", database="postgresql"),
        result_line("t.py::test_kill[activemq-postgresql]", "activemq", "fail", database="postgresql"),
        result_line("t.py::test_kill[pybroker-mariadb]", "pybroker", database="mariadb"),
        result_line("t.py::test_lock[pybroker]", "pybroker"),
        result_line("t.py::test_lock[pybroker]", "pybroker", runtime="docker"),
    ]
    sections = {s.topology: s for s in build_matrix(lines)}
    assert set(sections) == {"jdbc(2, database)", "shared_file(2)"}
    jdbc = sections["jdbc(2, database)"]
    assert [c.label for c in jdbc.columns] == [
        "activemq / local / postgresql",
        "pybroker / local / mariadb",
        "pybroker / local / postgresql",
    ]
    assert list(jdbc.rows) == ["t.py::test_kill"]
    assert jdbc.rows["t.py::test_kill"][Column("activemq", "local", "postgresql")].status == "fail"
    shared = sections["shared_file(2)"]
    assert [c.label for c in shared.columns] == ["pybroker / docker", "pybroker / local"]
    assert Column("pybroker", "local", NO_DATABASE) in shared.rows["t.py::test_lock"]


def test_the_newest_result_of_a_cell_wins_and_the_runs_are_counted():
    older = result_line("s[pybroker]", "pybroker", "fail", finished_at="2026-12-01T00:00:00+00:00")
    newer = result_line("s[pybroker]", "pybroker", "pass", finished_at="2026-12-02T00:00:00+00:00")
    (section,) = build_matrix([newer, older])
    (cell,) = section.rows["s"].values()
    assert (cell.status, cell.runs) == ("pass", 2)


def test_database_versions_are_shortened_to_what_a_reader_needs():
    from harness.report.versions import short_version

    answer = "PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0"
    assert short_version("postgresql", answer) == "PostgreSQL 15.8 (Debian 15.8-0+deb12u1)"
    assert short_version("mariadb", "10.11.6-MariaDB-0+deb12u1") == "MariaDB 10.11.6-MariaDB-0+deb12u1"


def test_two_installations_of_one_vendor_are_two_columns_of_one_row():
    lines = [
        result_line("t.py::test_kill[activemq-5.17.2-2-nodes]", "activemq", vendor_label="activemq-5.17.2"),
        result_line("t.py::test_kill[activemq-6.1.2-2-nodes]", "activemq", "fail", vendor_label="activemq-6.1.2"),
    ]
    (section,) = build_matrix(lines)
    assert [c.label for c in section.columns] == ["activemq-5.17.2 / local", "activemq-6.1.2 / local"]
    assert list(section.rows) == ["t.py::test_kill[2-nodes]"]
