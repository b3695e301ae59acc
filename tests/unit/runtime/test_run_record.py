"""The run record: what a run started, readable after a crash at any moment, and the process trees it names."""

from __future__ import annotations

from pathlib import Path

from harness.runtime.processes import OwnedProcess, owned_tree
from harness.runtime.run_record import RunRecord


def write_stat(proc: Path, pid: int, ppid: int, pgid: int, start: int, state: str = "S", comm: str = "java") -> None:
    # Fields after the command: state ppid pgrp session ... starttime is the 20th of them (field 22).
    rest = [state, str(ppid), str(pgid), str(pgid)] + ["0"] * 15 + [str(start)] + ["0"] * 10
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) {' '.join(rest)}\n")


def test_a_half_written_last_line_is_ignored_and_every_finished_line_is_kept(tmp_path: Path) -> None:
    record = RunRecord.create("r1", tmp_path)
    record.add_process(OwnedProcess(10, "500", 10, "node amq1"))
    record.add_directory(tmp_path / "cluster0")
    record.add_docker_run("abc", "unix:///var/run/docker.sock")
    with record.path.open("a") as out:
        out.write('{"process": {"pid": 11, "st')  # the run was killed in the middle of this write
    read = RunRecord.read(record.path)
    assert read.owner is not None and read.owner == record.owner
    assert read.processes == [OwnedProcess(10, "500", 10, "node amq1")]
    assert read.directories == [tmp_path / "cluster0"]
    assert read.docker_runs == [{"run": "abc", "docker_host": "unix:///var/run/docker.sock"}]


def test_the_tree_holds_descendants_in_other_groups_and_the_led_group(tmp_path: Path) -> None:
    write_stat(tmp_path, 100, 1, 100, 5000, comm="postgres")
    write_stat(tmp_path, 101, 100, 101, 5001, comm="postgres: checkpointer")  # a backend leads its own group
    write_stat(tmp_path, 102, 101, 101, 5002)  # its child
    write_stat(tmp_path, 103, 1, 100, 5003)  # re-parented to init, still in the postmaster's group
    write_stat(tmp_path, 200, 1, 200, 5004, comm="someone else")
    assert owned_tree(OwnedProcess(100, "5000", 100, "postgresql"), tmp_path) == [100, 101, 102, 103]


def test_a_pid_that_now_belongs_to_another_process_is_never_in_the_tree(tmp_path: Path) -> None:
    write_stat(tmp_path, 100, 1, 100, 9999, comm="reused pid")
    write_stat(tmp_path, 101, 100, 100, 10000)
    assert owned_tree(OwnedProcess(100, "5000", 100, "node amq1"), tmp_path) == []


def test_a_zombie_is_not_running(tmp_path: Path) -> None:
    write_stat(tmp_path, 100, 1, 100, 5000, state="Z")
    assert not OwnedProcess(100, "5000", 100, "node amq1").is_running(tmp_path)
    assert owned_tree(OwnedProcess(100, "5000", 100, "node amq1"), tmp_path) == []
