"""`amq-harness up --runtime docker` as a person uses it: brokers in containers, a fault from a second
terminal, Ctrl-C (twice), and no container, network or file of the cluster left afterwards."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from harness.images.build import ImageBuilder
from harness.images.recipes import plan_images
from harness.runtime.docker_labels import LABEL_OWNER_PID
from harness.runtime.engine import EngineUnavailable, connect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    try:
        client = connect()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    # The pybroker image `up --runtime docker` runs: built once, cached by its recipe's hash.
    ImageBuilder(client, progress=lambda line: None).ensure(plan_images(["pybroker"]))
    yield client
    client.close()


class Terminal:
    """``amq-harness up`` in a process of its own, its output read line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "harness.cli", *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; saw:\n" + "\n".join(self.seen))


def fault(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "fault", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_up_in_containers_follows_a_fault_and_ctrl_c_removes_every_container(
    engine: docker.DockerClient, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    up = Terminal(["up", "shared_file", "--runtime", "docker"], env)
    owned = {"label": f"{LABEL_OWNER_PID}={up.process.pid}"}
    try:
        files = Path(up.wait_for(r"runtime docker; files in (\S+)").group(1))
        roles = dict(up.wait_for(r"^\s+(amq\d)\s+(\w+)\s+\S+$").group(1, 2) for _ in range(2))
        up.wait_for("following roles")
        assert sorted(roles.values()) == ["master", "slave"], roles
        [master] = [name for name, role in roles.items() if role == "master"]
        [slave] = [name for name in roles if name != master]
        assert len(engine.containers.list(filters=owned)) == 2

        # A fault that heals (the container starts again) before Ctrl-C: removal must not depend on it.
        done = fault(env, "kill", master, "--for", "1")
        assert done.returncode == 0, done.stderr
        up.wait_for(rf"\] {slave} slave -> master")
        up.wait_for(rf"fault kill {master} healed")
        up.wait_for(rf"\] {master} down -> slave")

        up.process.send_signal(signal.SIGINT)  # Ctrl-C
        up.wait_for("stopping: healing faults")
        # A second Ctrl-C while containers are being removed must not cut the teardown short.
        up.process.send_signal(signal.SIGINT)
        assert up.process.wait(timeout=60) == 0
        up.wait_for("everything removed", timeout=5)
    finally:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
    left = [c.name for c in engine.containers.list(all=True, filters=owned)]
    assert left == [], f"containers left behind: {left}"
    networks = [n.name for n in engine.networks.list(filters=owned)]
    assert networks == [], f"networks left behind: {networks}"
    assert not files.exists(), f"{files} left behind"
