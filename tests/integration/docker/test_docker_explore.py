"""`amq-harness up --runtime docker` as a person uses it: brokers in containers, a fault from a second
terminal, Ctrl-C (twice), and no container, network or file of the cluster left afterwards."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from terminal import Terminal, fault

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


def test_up_in_containers_follows_a_fault_and_ctrl_c_removes_every_container(
    engine: docker.DockerClient, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    up = Terminal(["up", "shared_file", "--runtime", "docker"], env, wait_s=90)
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
