"""Nothing outlives a harness run: its watchdog, and prune for runs whose watchdog died too.

Each test runs a small harness process that starts a process tree and a directory, registers them,
and then dies the way the test says; the assertions look at the machine afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from waiting import eventually

from harness.runtime.leftovers import prune_local
from harness.runtime.processes import OwnedProcess
from harness.runtime.run_record import RunRecord, all_records, append_line

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# A run that starts a daemon-like tree (a session leader with a child in another group), registers
# it with a directory, prints the pids, then waits to be killed (or ends normally with "exit").
RUN = """
import os, subprocess, sys, time
from harness.runtime.ports import PortAllocator
from harness.runtime.run import current_run, register_process
leader = subprocess.Popen(["sh", "-c", "setsid sleep 300 & sleep 300"], start_new_session=True)
register_process(leader.pid, "sleeper", directory=sys.argv[1])
PortAllocator().allocate()
time.sleep(0.3)
print(leader.pid, current_run().record.path, current_run().record.watchdog.pid, flush=True)
if sys.argv[2] == "exit":
    sys.exit(0)
time.sleep(300)
"""


def _tree(pid: int) -> set[int]:
    """pid and every process whose ancestry leads to it, or that sleeps in a session it started."""
    found = {pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes()
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if args.startswith(b"sleep\x00300") and int(stat[1]) in found | {1}:
                found.add(int(entry.name))
    return found


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state"
    monkeypatch.setenv("AMQ_HARNESS_STATE_DIR", str(directory))
    return directory


def start_run(tmp_path: Path, how: str) -> tuple[subprocess.Popen[str], int, Path, int, Path]:
    workdir = tmp_path / "run-dir"
    workdir.mkdir()
    (workdir / "data").write_text("broker data")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(workdir), how], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    leader, record, watchdog = proc.stdout.readline().split()
    return proc, int(leader), Path(record), int(watchdog), workdir


def alive(pid: int, start: str | None) -> bool:
    owned = OwnedProcess.of(pid, "")
    return owned is not None and owned.start == start and owned.is_running()


def test_sigkill_of_the_run_leaves_no_process_and_no_directory(tmp_path: Path, state: Path) -> None:
    proc, leader, record, watchdog, workdir = start_run(tmp_path, "wait")
    tree = _tree(leader)
    assert len(tree) >= 2, f"the run should have started a tree, saw {tree}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.monotonic()
    assert eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in tree)), (
        f"still running 10 s after the run was killed: {[p for p in tree if Path(f'/proc/{p}').exists()]}"
    )
    assert eventually(lambda: not workdir.exists() and not record.exists())
    elapsed = time.monotonic() - killed_at
    assert elapsed < 10, f"the watchdog took {elapsed:.1f} s"
    log = (state / "watchdog.log").read_text()
    assert "died without a goodbye" in log and f"sleeper (pid {leader})" in log, log
    assert eventually(lambda: not Path(f"/proc/{watchdog}").exists()), "the watchdog should exit once done"


def test_a_run_that_ends_normally_keeps_its_directories_for_people_to_read(tmp_path: Path, state: Path) -> None:
    proc, leader, record, _, workdir = start_run(tmp_path, "exit")
    proc.wait()
    assert eventually(lambda: not record.exists())
    assert not list((state / "ports").glob("[0-9]*")), "the run's port claims should go with it"
    assert workdir.exists(), "a normal end must not remove the node logs the run left"
    # Its teardown (none here) missed the sleeper: the watchdog kills it all the same, and says so.
    assert eventually(lambda: not Path(f"/proc/{leader}").exists())
    assert "ended cleanly but left 1 processes" in (state / "watchdog.log").read_text()


def test_prune_removes_what_a_run_left_whose_watchdog_died_too(tmp_path: Path, state: Path) -> None:
    proc, leader, record, watchdog, workdir = start_run(tmp_path, "wait")
    os.kill(watchdog, signal.SIGKILL)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    assert Path(f"/proc/{leader}").exists() and workdir.exists(), "nothing should have reaped the run yet"
    [reaped] = prune_local(directory=state)
    assert reaped.processes == [f"sleeper (pid {leader})"]
    assert reaped.directories == [str(workdir)]
    assert eventually(lambda: not Path(f"/proc/{leader}").exists(), 5)
    assert not record.exists()


def test_prune_never_touches_a_process_whose_pid_was_reused(tmp_path: Path, state: Path) -> None:
    """A record naming a live process with another start time (the pid was handed out again)."""
    foreign = subprocess.Popen(["sleep", "300"])
    try:
        state.mkdir(parents=True, exist_ok=True)
        record = RunRecord(state / "dead.run.jsonl", "dead")
        gone = {"pid": 2**22 + 1, "start": "1", "pgid": 2**22 + 1, "what": "harness run"}  # above pid_max
        append_line(record.path, {"run": "dead", "host": socket.gethostname(), "owner": gone})
        real = OwnedProcess.of(foreign.pid, "node amq1")
        assert real is not None
        record.add_process(OwnedProcess(foreign.pid, str(int(real.start) - 1), real.pgid, "node amq1"))
        [reaped] = prune_local(directory=state)
        assert reaped.processes == []
        assert foreign.poll() is None, "prune killed a process that is not the harness's"
        assert all_records(state) == []
    finally:
        foreign.kill()
        foreign.wait()


def test_prune_leaves_runs_that_are_still_going(tmp_path: Path, state: Path) -> None:
    proc, leader, record, _, workdir = start_run(tmp_path, "wait")
    try:
        assert prune_local(directory=state) == []
        assert record.exists() and workdir.exists() and Path(f"/proc/{leader}").exists()
        [reaped] = prune_local(everything=True, directory=state)
        assert reaped.processes == [f"sleeper (pid {leader})"]
    finally:
        proc.kill()
        proc.wait()


def test_amq_harness_prune_removes_local_leftovers(tmp_path: Path, state: Path) -> None:
    proc, leader, record, watchdog, workdir = start_run(tmp_path, "wait")
    os.kill(watchdog, signal.SIGKILL)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "prune"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert f"removed 1 processes (sleeper (pid {leader})); 1 directories ({workdir})" in out.stdout, out.stdout
    assert "local: removed 1 processes and 1 directories of 1 runs" in out.stdout, out.stdout
    assert not workdir.exists() and not record.exists()
