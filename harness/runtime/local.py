"""The local runtime: each node is a process on 127.0.0.1 in its own directory.

Every process started here is owned by exactly one LocalNode and reaped by LocalRuntime.close();
an atexit hook reaps what a crashed test left behind, and the run's watchdog (harness.runtime.run)
what a killed harness process left.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from harness.runtime.base import START_MARKER, NodeError
from harness.runtime.ports import PortAllocator
from harness.runtime.run import register_directory, register_process
from harness.topology.network import BridgeAddress
from harness.vendors.base import LaunchSpec

if TYPE_CHECKING:
    from harness.services.pool import DatabasePool
    from harness.services.zookeeper import ZooKeeperEnsemble

log = logging.getLogger("harness.runtime")

_live_runtimes: weakref.WeakSet[LocalRuntime] = weakref.WeakSet()


@atexit.register
def _reap_leftovers() -> None:
    for runtime in list(_live_runtimes):
        runtime.close()


class LocalNode:
    def __init__(self, name: str, launch: LaunchSpec, host: str, stomp_port: int, log_path: Path) -> None:
        self.name = name
        self.launch = launch
        self.host = host
        self.stomp_port = stomp_port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<node {self.name} {self.endpoint} pid={self.pid}>"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.stomp_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        with self._lock:
            if self.alive:
                raise NodeError(f"node {self.name} is already running (pid {self.pid})")
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **self.launch.env}
            with self.log_path.open("ab") as out:
                out.write(f"{START_MARKER} {self.name} ----\n".encode())
                out.flush()
                try:
                    self._proc = subprocess.Popen(
                        self.launch.argv,
                        cwd=self.launch.cwd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        # Its own session: a Ctrl-C at the terminal reaches the harness, which then
                        # heals faults and stops nodes in order, instead of killing brokers mid-check.
                        start_new_session=True,
                    )
                except OSError as exc:
                    raise NodeError(f"node {self.name}: cannot start {self.launch.argv[0]}: {exc}") from exc
            register_process(self._proc.pid, f"node {self.name}")  # reaped by the watchdog if the run dies
            self._paused = False
            log.info("node %s started (pid %s, %s)", self.name, self.pid, self.endpoint)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise NodeError(f"node {self.name} is not running")
        os.kill(self._proc.pid, sig)

    def kill(self) -> None:
        with self._lock:
            self._signal(signal.SIGKILL)
            assert self._proc is not None
            self._proc.wait(timeout=30)
            self._paused = False
            log.info("node %s killed with SIGKILL", self.name)

    def pause(self) -> None:
        with self._lock:
            self._signal(signal.SIGSTOP)
            self._paused = True
            log.info("node %s paused (SIGSTOP)", self.name)

    def resume(self) -> None:
        with self._lock:
            if self._paused and self.alive:
                self._signal(signal.SIGCONT)
                log.info("node %s resumed (SIGCONT)", self.name)
            self._paused = False

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if the node has not exited within ``timeout``."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return
            if self._paused:
                os.kill(proc.pid, signal.SIGCONT)
                self._paused = False
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("node %s ignored SIGTERM for %.0f s: sending SIGKILL", self.name, timeout)
                proc.kill()
                proc.wait(timeout=30)
            log.info("node %s stopped (exit %s)", self.name, proc.returncode)

    def restart(self, timeout: float = 15.0) -> None:
        with self._lock:
            self.stop(timeout)
            self.start()

    def logs(self, tail: int | None = None) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        if tail is None:
            return text
        return "\n".join(text.splitlines()[-tail:])

    def reap(self) -> None:
        """Kill and wait for the process, whatever state it is in (teardown path)."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log.error("node %s (pid %s) did not die after SIGKILL", self.name, proc.pid)
            self._paused = False


class LocalRuntime:
    """Processes on loopback, each node in ``workdir/<node>``, shared stores in ``workdir/shared``."""

    name = "local"
    faults: frozenset[str] = frozenset()

    def __init__(self, workdir: Path | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.services_host = host
        self._databases: DatabasePool | None = None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="amq-harness-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        register_directory(self.workdir)
        self.ports = PortAllocator(host)
        self.nodes: dict[str, LocalNode] = {}
        _live_runtimes.add(self)

    def allocate_port(self) -> int:
        return self.ports.allocate()

    def listen_address(self, client_port: int) -> tuple[str, int]:
        return self.host, client_port

    def bridge_address(self, node: str) -> BridgeAddress:
        port = self.ports.allocate()
        return BridgeAddress(self.host, port, self.host, port)

    def node_dir(self, node: str) -> Path:
        path = self.workdir / node
        path.mkdir(parents=True, exist_ok=True)
        return path

    def shared_dir(self, name: str) -> Path:
        path = self.workdir / "shared" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add_node(self, name: str, launch: LaunchSpec, stomp_port: int) -> LocalNode:
        if name in self.nodes:
            raise NodeError(f"runtime local: node {name} exists already")
        if launch.image is not None:
            raise NodeError(f"runtime local: node {name} is meant to run in image {launch.image}: use --runtime docker")
        node = LocalNode(name, launch, self.host, stomp_port, self.node_dir(name) / "node.log")
        self.nodes[name] = node
        return node

    def databases(self) -> DatabasePool:
        """Database servers as local processes, started on first use and reaped by close()."""
        if self._databases is None:
            from harness.services.pool import DatabasePool  # not at import time: services import runtime.ports

            # In the system temp directory: the servers run as their own users, who cannot enter
            # pytest's private (0700) temporary directories.
            self._databases = DatabasePool(host=self.host)
        return self._databases

    def zookeeper_ensemble(self, size: int, group: str) -> ZooKeeperEnsemble:
        """ZooKeeper servers as processes on this machine, in a directory of the run's."""
        from harness.services.zookeeper import ZooKeeperEnsemble

        return ZooKeeperEnsemble(size, host=self.services_host, workdir=self.shared_dir(f"zookeeper-{group}"))

    def close(self) -> None:
        """Stop every node: resume paused ones, ask politely, then SIGKILL. Safe to call twice."""
        deadline = time.monotonic() + 10
        for node in self.nodes.values():
            try:
                node.resume()
                if node.alive:
                    node.stop(timeout=max(0.5, deadline - time.monotonic()))
            except Exception as exc:  # teardown must reach every node
                log.warning("stopping node %s failed (%s): killing it", node.name, exc)
            node.reap()
        if self._databases is not None:
            self._databases.close()
        _live_runtimes.discard(self)

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
