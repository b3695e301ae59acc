"""Faults of the machine, not of the brokers: each scenario they stop is an ``error`` with one clear line.

Each test runs a real scenario in a pytest subprocess on an environment broken on purpose (a full
file system, a Docker engine that goes away mid-scenario, a port another program takes between the
harness choosing it and the broker binding it, Java or PostgreSQL failing on start) and reads the
result line it wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Takes every port the harness chooses, from another process, before anything binds it.
STEAL_PORTS = """
import subprocess, sys
from harness.runtime import ports

_choose = ports.PortAllocator.allocate
_holders = []
HOLD = "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); " \\
    "print('held', flush=True); time.sleep(600)"


def allocate(self):
    port = _choose(self)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(port)], stdout=subprocess.PIPE)
    holder.stdout.readline()
    _holders.append(holder)
    return port


ports.PortAllocator.allocate = allocate


def pytest_unconfigure(config):
    for holder in _holders:
        holder.kill()
        holder.wait()
"""

PRODUCE = """
import pytest
from harness.topology import jdbc, shared_file

@pytest.mark.topology({topology})
def test_scenario(cluster, workload):
    workload.produce({messages})
    assert workload.check().lost == 0
"""


def run_scenario(
    tmp_path: Path, scenario: str, options: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str, float]:
    """Run the scenario; its one result line, pytest's output, and how long it took."""
    (tmp_path / "test_env.py").write_text(scenario)
    results = tmp_path / "results"
    started = time.monotonic()
    argv = [sys.executable, "-m", "pytest", "test_env.py", "-p", "no:cacheprovider", "-q"]
    argv += ["--results-dir", str(results)]
    out = subprocess.run(
        [*argv, *options],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.monotonic() - started
    lines = (results / "results.jsonl").read_text().splitlines() if (results / "results.jsonl").exists() else []
    assert len(lines) == 1, f"one result line expected, got {lines}\n{out.stdout[-3000:]}{out.stderr[-2000:]}"
    return json.loads(lines[0]), out.stdout, took


def assert_error(result: dict[str, Any], expected: str) -> None:
    assert result["verdict"] == "error", f"an environment fault is an error, not {result['verdict']}: {result}"
    assert "\n" not in result["reason"], f"the reason should be one line: {result['reason']!r}"
    assert expected in result["reason"], f"expected {expected!r} in the reason: {result['reason']!r}"


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Any:
    """A 16 MiB tmpfs, filled up to its last 16 KiB."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        with (mount / "filler").open("wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        os.truncate(mount / "filler", max(0, (mount / "filler").stat().st_size - 16384))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_file_system_under_the_brokers_is_an_error(tmp_path: Path, full_tmpfs: Path) -> None:
    scenario = PRODUCE.format(topology="shared_file(nodes=1)", messages=500)
    result, _, took = run_scenario(tmp_path, scenario, ("--basetemp", str(full_tmpfs / "basetemp")))
    assert_error(result, f"the file system holding {full_tmpfs}")
    print(f"full disk: error in {took:.1f} s: {result['reason']}")


def test_java_failing_on_start_is_an_error(tmp_path: Path) -> None:
    scenario = PRODUCE.format(topology="shared_file(nodes=1)", messages=10)
    # A JVM option out of range: the JVM refuses to start, as it would on a broken Java installation.
    env = {"JAVA_TOOL_OPTIONS": "-XX:ReservedCodeCacheSize=1k"}
    result, _, took = run_scenario(tmp_path, scenario, ("--vendor", "activemq"), env=env)
    assert_error(result, "Java crashed on start (Could not create the Java Virtual Machine)")
    assert took < 60, f"a JVM that cannot start should be reported at once, took {took:.0f} s"
    print(f"java: error in {took:.1f} s: {result['reason']}")


def test_a_port_taken_before_the_broker_binds_it_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(STEAL_PORTS)
    result, _, took = run_scenario(tmp_path, PRODUCE.format(topology="shared_file(nodes=1)", messages=10))
    assert_error(result, "between the harness choosing it and the broker binding it")
    assert "was taken by another program (python" in result["reason"]
    print(f"port taken: error in {took:.1f} s: {result['reason']}")


def test_postgresql_failing_on_start_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(STEAL_PORTS)  # its port is taken: the postmaster cannot bind
    scenario = PRODUCE.format(topology='jdbc(nodes=2, db="postgresql")', messages=10)
    result, _, took = run_scenario(tmp_path, scenario)
    assert_error(result, "the database server could not start: pg_ctl")
    print(f"postgresql: error in {took:.1f} s: {result['reason']}")


class SocketRelay:
    """A stand-in for the Docker engine's socket that the test can take away: every connection relayed
    to the real engine until ``stop()``, after which the socket file is gone and open connections drop."""

    def __init__(self, path: Path, engine: str = "/var/run/docker.sock") -> None:
        self.path, self.engine = path, engine
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen(64)
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine)
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self.listener.close()
        self.path.unlink(missing_ok=True)
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


ENGINE_GOES = """
import time
from pathlib import Path
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=1))
def test_engine_goes_away(cluster, workload, faults):
    with workload.running(producers=1, consumers=1):
        workload.wait_for_traffic()
        Path("serving").write_text("yes")
        while not Path("engine-gone").exists():
            time.sleep(0.1)
        with faults.restart(cluster.master()):
            cluster.wait_for_master(timeout=30)
    assert workload.check().lost == 0
"""


def test_a_docker_engine_gone_mid_scenario_is_an_error_not_a_hang(tmp_path: Path) -> None:
    import docker

    from harness.runtime.docker_labels import LABEL_OWNER_PID
    from harness.runtime.engine import EngineUnavailable, connect

    try:
        engine = connect(timeout=10)
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    relay = SocketRelay(tmp_path / "docker.sock")
    (tmp_path / "test_env.py").write_text(ENGINE_GOES)
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "pytest", "test_env.py", "-p", "no:cacheprovider", "-q", "--runtime", "docker"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOCKER_HOST": f"unix://{tmp_path / 'docker.sock'}"}
    with (tmp_path / "pytest.log").open("w") as log:
        proc = subprocess.Popen([*argv, "--results-dir", str(results)], cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 600
        while not (tmp_path / "serving").exists():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "pytest.log").read_text()[-3000:]
            time.sleep(0.2)
        relay.stop()
        gone_at = time.monotonic()
        (tmp_path / "engine-gone").write_text("yes")
        proc.wait(timeout=180)
        took = time.monotonic() - gone_at
        [line] = (results / "results.jsonl").read_text().splitlines()
        result = json.loads(line)
        assert_error(result, f"the Docker engine at unix://{tmp_path / 'docker.sock'} stopped answering")
        print(f"engine gone: error {took:.1f} s after the engine went away: {result['reason']}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # What the run could not remove without its engine: removed here through the real one.
        for container in engine.containers.list(all=True, filters={"label": f"{LABEL_OWNER_PID}={proc.pid}"}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        for network in engine.networks.list(filters={"label": f"{LABEL_OWNER_PID}={proc.pid}"}):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
        engine.close()
