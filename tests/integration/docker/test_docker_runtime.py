"""The docker runtime controls real containers and leaves nothing behind, even when its run dies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from harness.images.build import ImageBuilder
from harness.images.recipes import plan_images
from harness.runtime.base import START_MARKER, NodeError
from harness.runtime.docker import DockerNode, DockerRuntime
from harness.runtime.docker_labels import LABEL_CLUSTER
from harness.runtime.docker_reaper import prune
from harness.runtime.engine import EngineUnavailable, connect
from harness.vendors import LaunchSpec

pytestmark = pytest.mark.integration

# Listens where brokers listen in their container, answers each connection with its hostname.
ECHO_HOSTNAME = """
import socket, sys
print('up', flush=True)
server = socket.create_server(('0.0.0.0', 61613))
while True:
    conn, _ = server.accept()
    conn.sendall(socket.gethostname().encode() + b'\\n')
    conn.close()
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    try:
        client = connect()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(engine: docker.DockerClient) -> str:
    """The shared Debian base (it has python3): built once, cached by its recipe's hash."""
    base = plan_images(["pybroker"])[0]
    ImageBuilder(engine, progress=lambda line: None).ensure([base])
    return base.tag


def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


def echo_node(runtime: DockerRuntime, image: str, name: str = "amq1") -> DockerNode:
    launch = LaunchSpec(argv=["python3", "-u", "-c", ECHO_HOSTNAME], cwd=runtime.node_dir(name), image=image)
    return runtime.add_node(name, launch, runtime.allocate_port())


def answer(node: DockerNode, timeout: float = 2.0) -> str | None:
    """What the node's published port says, or None when nothing answers."""
    try:
        with socket.create_connection((node.host, node.stomp_port), timeout=timeout) as conn:
            return conn.recv(100).decode().strip() or None
    except OSError:
        return None


def harness_objects(engine: docker.DockerClient, cluster_id: str) -> list[str]:
    label = {"label": f"{LABEL_CLUSTER}={cluster_id}"}
    containers = [c.name for c in engine.containers.list(all=True, filters=label)]
    networks = [n.name for n in engine.networks.list(filters=label)]
    return containers + networks


def test_kill_pause_resume_restart_and_logs(tmp_path: Path, image: str) -> None:
    with DockerRuntime(tmp_path) as runtime:
        node = echo_node(runtime, image)
        node.start()
        eventually(lambda: answer(node) == "amq1", "an answer on the published port, from hostname amq1")
        node.pause()
        assert node.alive and answer(node, timeout=1.0) is None, "a paused container answered"
        node.resume()
        eventually(lambda: answer(node) == "amq1", "an answer after docker unpause")
        node.restart(timeout=5)
        eventually(lambda: answer(node) == "amq1", "an answer after the restart, on the same host port")
        assert node.logs().count(f"{START_MARKER} amq1") == 2
        node.kill()
        assert not node.alive and node.exit_code == 137
        assert answer(node) is None
        with pytest.raises(NodeError, match="is not running"):
            node.pause()
        node.start()
        eventually(lambda: answer(node) == "amq1", "an answer after a start following kill -9")
        with pytest.raises(NodeError, match="already running"):
            node.start()


def test_a_partitioned_node_is_unreachable_until_it_rejoins(tmp_path: Path, image: str) -> None:
    with DockerRuntime(tmp_path) as runtime:
        node = echo_node(runtime, image)
        node.start()
        eventually(lambda: answer(node) == "amq1", "an answer before the partition")
        node.isolate()
        assert node.alive and answer(node) is None
        node.rejoin()
        eventually(lambda: answer(node) == "amq1", "an answer after rejoining")


def test_shared_store_files_belong_to_the_harness_user_and_lock_stealing_reaches_them(
    tmp_path: Path, image: str
) -> None:
    with DockerRuntime(tmp_path) as runtime:
        store = runtime.shared_dir("ms-broker-a")
        writer = (
            f"import os, time; open('{store}/lock', 'w').write('held'); print('wrote', flush=True);"
            f"[time.sleep(0.05) for _ in iter(lambda: os.path.exists('{store}/lock'), False)];"
            "print('lock gone', flush=True); time.sleep(60)"
        )
        launch = LaunchSpec(argv=["python3", "-c", writer], cwd=runtime.node_dir("amq1"), image=image)
        node = runtime.add_node("amq1", launch, runtime.allocate_port())
        node.start()
        eventually(lambda: (store / "lock").exists(), "the lock file written by the container")
        assert (store / "lock").stat().st_uid == os.getuid()
        (store / "lock").unlink()  # what LockSteal does, from the host
        eventually(lambda: "lock gone" in node.logs(), "the container seeing the deleted lock")


def test_close_removes_every_container_and_the_network_and_keeps_the_logs(
    tmp_path: Path, image: str, engine: docker.DockerClient
) -> None:
    runtime = DockerRuntime(tmp_path)
    running, paused = echo_node(runtime, image, "amq1"), echo_node(runtime, image, "amq2")
    running.start()
    paused.start()
    eventually(lambda: "up" in paused.logs(), "the second node's first line")
    paused.pause()
    assert len(harness_objects(engine, runtime.cluster_id)) == 3
    runtime.close()
    assert harness_objects(engine, runtime.cluster_id) == []
    assert "up" in paused.log_path.read_text() and "up" in paused.logs()


LEAVE_BEHIND = """
import os, sys
from pathlib import Path
from harness.runtime.docker import DockerRuntime
from harness.vendors import LaunchSpec
runtime = DockerRuntime(Path(sys.argv[1]))
launch = LaunchSpec(argv=['sleep', '300'], cwd=runtime.node_dir('amq1'), image=sys.argv[2])
runtime.add_node('amq1', launch, runtime.allocate_port()).start()
print(runtime.cluster_id, flush=True)
if sys.argv[3] == 'die':
    os._exit(0)  # like SIGKILL: no finalizer, no atexit
"""


def run_harness_process(tmp_path: Path, image: str, how: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    out = subprocess.run(
        [sys.executable, "-c", LEAVE_BEHIND, str(tmp_path), image, how],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    return out.stdout.split()[-1]


def test_a_run_that_exits_without_closing_is_cleaned_by_its_atexit_hook(
    tmp_path: Path, image: str, engine: docker.DockerClient
) -> None:
    cluster_id = run_harness_process(tmp_path, image, "exit")
    assert harness_objects(engine, cluster_id) == []


def test_prune_removes_what_a_killed_run_left(tmp_path: Path, image: str, engine: docker.DockerClient) -> None:
    cluster_id = run_harness_process(tmp_path, image, "die")
    left = harness_objects(engine, cluster_id)
    assert len(left) == 2, f"expected the dead run's container and network, found {left}"
    removed = prune(engine, progress=lambda line: None)
    assert set(left) <= set(removed.containers + removed.networks)
    assert harness_objects(engine, cluster_id) == []
