"""Environment faults are told apart from the brokers' failures, each in one line."""

from __future__ import annotations

import errno
import os
import socket
from collections import namedtuple
from pathlib import Path

import pytest
import requests

from harness.environment import Surroundings, environment_fault, full_file_system
from harness.report.results import ScenarioResult, read_results, write_result
from harness.runtime.base import NodeError
from harness.services.database import DatabaseUnavailable

Usage = namedtuple("Usage", "total used free")


def test_a_full_disk_is_named_with_the_file_it_was_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.disk_usage", lambda _: Usage(100, 100, 4096))
    exc = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "journal.log"))
    line = environment_fault(exc)
    assert line == f"no space left on device writing {tmp_path / 'journal.log'}: the file system holding " + (
        f"{tmp_path / 'journal.log'} is full (4 KiB free)"
    )


def test_a_node_that_died_on_a_full_disk_is_an_environment_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.disk_usage", lambda _: Usage(100, 100, 0))
    exc = NodeError("node amq1 exited during start-up; its log ends with:\nsomething")
    assert environment_fault(exc, Surroundings(directories=(tmp_path,))) == (
        f"node amq1 exited during start-up; its log ends with: the file system holding {tmp_path} is full (0 KiB free)"
    )


def test_java_crashing_on_start_is_named() -> None:
    exc = NodeError(
        "node amq1 exited during start-up; its log ends with:\nError occurred during initialization of VM\n"
        "Too small initial heap"
    )
    line = environment_fault(exc)
    assert line is not None and "Java crashed on start (Error occurred during initialization of VM)" in line
    assert "\n" not in line


def test_a_docker_engine_that_stopped_answering_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    try:
        try:
            raise requests.exceptions.ConnectionError("('Connection aborted.', FileNotFoundError(2, 'No such file'))")
        except requests.exceptions.ConnectionError as inner:
            raise RuntimeError("kill of node amq1 failed") from inner
    except RuntimeError as exc:
        line = environment_fault(exc)
    assert line is not None and line.startswith("the Docker engine at unix:///nonexistent.sock stopped answering (")


def test_a_database_server_that_cannot_start_is_named() -> None:
    exc = DatabaseUnavailable("pg_ctl start failed (1): could not bind IPv4 address\nserver log: /tmp/x/server.log")
    assert (
        environment_fault(exc)
        == "the database server could not start: pg_ctl start failed (1): could not bind IPv4 address"
    )


def test_a_port_held_by_another_program_is_named_with_its_pid() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        exc = NodeError(
            "node amq1 exited during start-up; its log ends with:\nOSError: [Errno 98] Address already in use"
        )
        line = environment_fault(exc, Surroundings(ports={"amq1": port}, pids={"amq1": 1}))
    assert line is not None
    assert line.startswith(f"port {port} of node amq1 was taken by another program (")
    assert f"pid {os.getpid()})" in line


def test_a_broken_promise_of_the_brokers_is_not_an_environment_fault(tmp_path: Path) -> None:
    exc = AssertionError("lost 3 receipted messages")
    assert environment_fault(exc, Surroundings(directories=(tmp_path,))) is None
    assert environment_fault(NodeError("node amq1 did not become a slave within 30 s")) is None


def test_a_file_system_with_room_is_not_full(tmp_path: Path) -> None:
    assert full_file_system([tmp_path]) is None


def result_line(vendor: str) -> ScenarioResult:
    return ScenarioResult("s", vendor, "1", "local", {}, [], "pass", 7)


def test_an_unfinished_last_result_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    write_result(tmp_path, result_line("pybroker"))
    with (tmp_path / "results.jsonl").open("a") as out:
        out.write('{"scenario": "s", "vend')  # the writer was killed here
    assert [r["vendor"] for r in read_results(tmp_path / "results.jsonl")] == ["pybroker"]


def test_a_result_line_cut_short_by_a_full_disk_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_result(tmp_path, result_line("pybroker"))
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))
    with pytest.raises(OSError, match="only 10 of"):
        write_result(tmp_path, result_line("activemq"))
    monkeypatch.undo()
    assert (tmp_path / "results.jsonl").read_text().endswith("}\n")
    assert [r["vendor"] for r in read_results(tmp_path / "results.jsonl")] == ["pybroker"]
