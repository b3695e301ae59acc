"""`amq-harness up` and `amq-harness fault` as a person uses them: real processes, a second terminal's
fault command, Ctrl-C, and nothing left afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import Terminal, fault

pytestmark = pytest.mark.integration


def accepts(endpoint: str) -> bool:
    host, port = endpoint.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_up_follows_a_fault_from_a_second_terminal_and_ctrl_c_removes_everything(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    up = Terminal(["up", "shared_file", "--nodes", "2"], env)
    try:
        files = Path(up.wait_for(r"files in (\S+)").group(1))
        nodes = {
            m.group(1): (m.group(2), m.group(3))
            for m in (up.wait_for(r"^\s+(amq\d)\s+(\w+)\s+(\S+)$") for _ in range(2))
        }
        up.wait_for(r"^failover URI: failover:\(tcp://")
        up.wait_for("following roles")
        [master] = [name for name, (role, _) in nodes.items() if role == "master"]
        [slave] = [name for name in nodes if name != master]

        mistake = fault(env, "kill", "amq9")
        assert mistake.returncode == 2
        assert mistake.stderr.strip() == "amq-harness fault: unknown node `amq9`; known nodes amq1, amq2"

        done = fault(env, "kill", master, "--for", "2")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"kill {master}: injected, heals in 2 s"
        up.wait_for(rf"\] {master} master -> down")
        up.wait_for(rf"\] {slave} slave -> master")
        up.wait_for(rf"fault kill {master} healed")
        up.wait_for(rf"\] {master} down -> slave")

        up.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert up.process.wait(timeout=60) == 0
        up.wait_for("everything removed", timeout=5)
    finally:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
    assert not files.exists(), f"{files} left behind"
    assert not any(accepts(endpoint) for _, endpoint in nodes.values()), "a broker still listens"
    after = fault(env, "pause", master)
    assert after.returncode == 2 and "no cluster is up" in after.stderr


def test_up_refuses_an_unknown_topology_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "up", "shared_fiel"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "amq-harness up: unknown topology `shared_fiel` (did you mean `shared_file`?); "
        "known topologies jdbc, shared_file"
    )
