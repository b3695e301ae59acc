"""The local runtime controls and reaps real processes."""

import sys
import time
from pathlib import Path

import pytest

from harness.runtime import LocalRuntime, NodeError
from harness.vendors import LaunchSpec

pytestmark = pytest.mark.integration

SLEEPER = "import time, sys; print('up', flush=True); time.sleep(120)"


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]


def eventually(check, what: str, timeout: float = 10.0) -> None:
    """Signals and a child's first output arrive asynchronously: poll instead of assuming."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)


def sleeper(runtime: LocalRuntime, name: str = "n1"):
    launch = LaunchSpec(argv=[sys.executable, "-c", SLEEPER], cwd=runtime.node_dir(name))
    return runtime.add_node(name, launch, runtime.allocate_port())


def test_kill_pause_resume_restart_and_logs(tmp_path: Path):
    with LocalRuntime(tmp_path) as runtime:
        node = sleeper(runtime)
        node.start()
        eventually(lambda: "up" in node.logs(), "the node's first log line")
        node.pause()
        eventually(lambda: proc_state(node.pid) == "T", "stopped state after SIGSTOP")
        node.resume()
        eventually(lambda: proc_state(node.pid) in ("S", "R"), "running state after SIGCONT")
        first = node.pid
        node.restart(timeout=5)
        assert node.alive and node.pid != first
        node.kill()
        assert not node.alive and node.exit_code == -9


def test_close_reaps_paused_and_running_processes(tmp_path: Path):
    runtime = LocalRuntime(tmp_path)
    a, b = sleeper(runtime, "a"), sleeper(runtime, "b")
    a.start()
    b.start()
    b.pause()
    pids = [a.pid, b.pid]
    runtime.close()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived the runtime"


def test_starting_twice_or_signalling_a_dead_node_is_an_error(tmp_path: Path):
    with LocalRuntime(tmp_path) as runtime:
        node = sleeper(runtime)
        node.start()
        with pytest.raises(NodeError, match="already running"):
            node.start()
        node.kill()
        with pytest.raises(NodeError, match="is not running"):
            node.pause()


def test_a_missing_program_is_a_clear_error(tmp_path: Path):
    with LocalRuntime(tmp_path) as runtime:
        node = runtime.add_node("x", LaunchSpec(argv=["/no/such/binary"], cwd=tmp_path), 1)
        with pytest.raises(NodeError, match="cannot start /no/such/binary"):
            node.start()
