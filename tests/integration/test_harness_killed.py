"""pytest killed with SIGKILL in the middle of a scenario (what a CI time limit does) leaves nothing.

Each test runs a real scenario in a pytest subprocess. Once its cluster serves, the scenario writes
down what it started (pids with their start times and process trees, directories, containers and
network) and waits; the test then SIGKILLs pytest (or one xdist worker) and gives the run 10 s to be
gone: no process, container, network or directory of it may remain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import eventually

from harness.runtime.processes import OwnedProcess, owned_tree
from harness.runtime.run_record import all_records

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WITHIN_S = 10.0

SCENARIO = """
import json, os, time
from pathlib import Path

import pytest

from harness.topology import jdbc, shared_file


def started(cluster):
    databases = []
    for server, _ in cluster.databases.values():
        pid = getattr(server, "pid", None) or getattr(getattr(server, "proc", None), "pid", None)
        databases.append({{"pid": pid, "root": str(getattr(server, "root", "") or "")}})
    runtime = cluster.runtime
    network = getattr(runtime, "network", None)
    return {{
        "worker": os.getpid(),
        "workdir": str(runtime.workdir),
        "pids": [node.pid for node in cluster.nodes.values() if getattr(node, "pid", None)],
        "containers": [node.container_name for node in cluster.nodes.values() if hasattr(node, "container_name")],
        "network": network.name if network is not None else None,
        "databases": databases,
    }}


@pytest.mark.topology({topology})
@pytest.mark.parametrize("which", {cases})
def test_held_under_load(cluster, workload, which):
    with workload.running(producers=1, consumers=1):
        workload.wait_for_traffic()
        Path({marker!r} + which).write_text(json.dumps(started(cluster)))
        time.sleep(300)
"""


class Started:
    """What one scenario started, as it wrote it down, with every process tree taken at that moment."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        pids = list(info["pids"]) + [db["pid"] for db in info["databases"] if db["pid"]]
        owned = [o for o in (OwnedProcess.of(pid, "") for pid in pids) if o is not None]
        trees = [OwnedProcess.of(pid, "") for o in owned for pid in owned_tree(o)]
        self.processes = [p for p in trees if p is not None]
        self.directories = [Path(info["workdir"])] + [Path(db["root"]) for db in info["databases"] if db["root"]]

    def add(self, recorded: list[OwnedProcess]) -> None:
        known = {p.pid for p in self.processes}
        for owned in recorded:
            for pid in owned_tree(owned):
                process = OwnedProcess.of(pid, "")
                if process is not None and pid not in known:
                    self.processes.append(process)

    def remaining(self) -> list[str]:
        left = [f"process {p.pid}" for p in self.processes if p.is_running()]
        left += [f"directory {d}" for d in self.directories if d.exists()]
        left += [f"container {name}" for name in self.info["containers"] if _docker_has("container", name)]
        if self.info["network"] and _docker_has("network", self.info["network"]):
            left.append(f"network {self.info['network']}")
        return left


def _docker_has(kind: str, name: str) -> bool:
    out = subprocess.run(["docker", kind, "inspect", name], capture_output=True, timeout=30)
    return out.returncode == 0


class ScenarioRun:
    def __init__(self, tmp_path: Path, topology: str, options: list[str], cases: list[str]) -> None:
        self.tmp_path = tmp_path
        self.marker = str(tmp_path / "started-")
        (tmp_path / "test_held.py").write_text(
            SCENARIO.format(topology=topology, cases=repr(cases), marker=self.marker)
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT), "AMQ_HARNESS_STATE_DIR": str(tmp_path / "state")}
        self.log = tmp_path / "pytest.log"
        argv = [sys.executable, "-m", "pytest", "test_held.py", "-p", "no:cacheprovider", "-q", "-s"]
        argv += ["--basetemp", str(tmp_path / "basetemp"), "--results-dir", str(tmp_path / "results"), *options]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: the test can kill it all without touching itself
            )

    def wait_started(self, case: str, timeout: float = 240.0) -> Started:
        path = Path(self.marker + case)
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                output = self.log.read_text()[-3000:]
                pytest.fail(f"the scenario {case} never served (exit {self.proc.returncode}):\n{output}")
            time.sleep(0.2)
        time.sleep(0.2)
        started = Started(json.loads(path.read_text()))
        # And whatever else the run registered (a toxiproxy server, say): it must go too.
        for record in all_records(self.tmp_path / "state"):
            if record.owner is not None and record.owner.pid == started.info["worker"]:
                started.add(record.processes)
        return started

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def scenario_run(tmp_path: Path) -> Iterator[Callable[..., ScenarioRun]]:
    runs: list[ScenarioRun] = []

    def start(topology: str, options: list[str], cases: tuple[str, ...] = ("only",)) -> ScenarioRun:
        run = ScenarioRun(tmp_path, topology, options, list(cases))
        runs.append(run)
        return run

    yield start
    for run in runs:  # a test that failed half-way: its pytest and xdist workers go (their watchdogs reap)
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
        run.proc.wait()


def assert_gone(started: Started, what: str) -> None:
    killed_at = time.monotonic()
    gone = eventually(lambda: not started.remaining(), WITHIN_S)
    assert gone, f"{WITHIN_S:.0f} s after {what}, still there: {started.remaining()}"
    print(f"{what}: everything gone {time.monotonic() - killed_at:.1f} s after the kill")


def test_sigkill_of_pytest_mid_jdbc_scenario_on_activemq_leaves_nothing(
    scenario_run: Callable[..., ScenarioRun],
) -> None:
    run = scenario_run('jdbc(nodes=2, db="postgresql")', ["--vendor", "activemq"])
    started = run.wait_started("only")
    assert len(started.info["pids"]) == 2 and started.info["databases"][0]["pid"]
    assert len(started.processes) >= 4, "two JVMs and a postmaster with its children"
    run.kill()
    assert_gone(started, "SIGKILL of pytest mid JDBC scenario (activemq, PostgreSQL)")


def test_sigkill_of_pytest_mid_docker_scenario_leaves_nothing(scenario_run: Callable[..., ScenarioRun]) -> None:
    from harness.runtime.engine import EngineUnavailable, connect

    try:
        connect(timeout=10).close()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    run = scenario_run("shared_file(nodes=1)", ["--runtime", "docker"])
    started = run.wait_started("only", timeout=600)
    assert len(started.info["containers"]) == 1 and started.info["network"]
    run.kill()
    assert_gone(started, "SIGKILL of pytest mid docker scenario")


def test_sigkill_of_one_xdist_worker_leaves_nothing_of_its_clusters(
    scenario_run: Callable[..., ScenarioRun],
) -> None:
    run = scenario_run("shared_file(nodes=2)", ["-n", "2"], cases=("a", "b"))
    first, second = run.wait_started("a"), run.wait_started("b")
    assert first.info["worker"] != second.info["worker"], "the two scenarios should run on two workers"
    os.kill(first.info["worker"], signal.SIGKILL)
    assert_gone(first, "SIGKILL of an xdist worker")
    assert all(p.is_running() for p in second.processes), "the other worker's nodes must run on"
    os.kill(second.info["worker"], signal.SIGKILL)
    run.kill()
    assert_gone(second, "SIGKILL of the other worker and pytest")
