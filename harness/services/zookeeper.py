"""A throwaway ZooKeeper ensemble (1 or 3 nodes) started as local processes, for replicated master/slave.

Each node is Debian's ZooKeeper (``org.apache.zookeeper.server.quorum.QuorumPeerMain``, the jars in
/usr/share/java) in a directory of its own (zoo.cfg, myid, data, node.log) with its client, quorum and
election ports chosen free on loopback. The admin server is off (it would take port 8080) and every
four-letter command is allowed, because readiness and roles are read with ``ruok`` and ``srvr``.

``tick_ms`` bounds the session timeouts the ensemble grants (2 to 20 ticks): the default 500 ms lets
brokers ask for ActiveMQ's 2 s zkSessionTimeout. One owner keeps every PID; ``reap`` (also run at exit
for an ensemble a crashed run left) kills them all and removes the directories.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import socket
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.runtime.base import NodeError
from harness.runtime.local import LocalNode
from harness.runtime.ports import PortAllocator
from harness.runtime.run import register_directory
from harness.vendors.base import LaunchSpec

log = logging.getLogger("harness.services")

JAVA_LIB = Path("/usr/share/java")
# zookeeper.jar's manifest names its own dependencies; a logging binding is the one thing it leaves out.
CLASSPATH_JARS = ("zookeeper.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
INSTALL_HINT = "run scripts/setup.sh (as root) or: apt-get install -y zookeeper"
DEFAULT_TICK_MS = 500

ZooKeeperMode = Literal["leader", "follower", "standalone", "down", "no quorum"]

_LOG4J = """log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n
"""

_live_ensembles: weakref.WeakSet[ZooKeeperEnsemble] = weakref.WeakSet()


@atexit.register
def _reap_leftovers() -> None:
    for ensemble in list(_live_ensembles):
        ensemble.reap()


class ZooKeeperUnavailable(RuntimeError):
    """ZooKeeper cannot be started here; the message says what is missing or where its log is."""


def classpath() -> str:
    missing = [jar for jar in CLASSPATH_JARS if not (JAVA_LIB / jar).exists()]
    if missing:
        raise ZooKeeperUnavailable(f"{', '.join(missing)} not found in {JAVA_LIB}: {INSTALL_HINT}")
    if shutil.which("java") is None:
        raise ZooKeeperUnavailable("java not found: run scripts/setup.sh (as root) or: apt-get install -y zookeeper")
    return ":".join(str(JAVA_LIB / jar) for jar in CLASSPATH_JARS)


def four_letter(host: str, port: int, command: str, timeout: float = 1.0) -> str:
    """Send a four-letter command (``ruok``, ``srvr``, ``mntr``) and return the whole reply ("" if none)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(command.encode("ascii"))
            chunks = []
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode("utf-8", errors="replace")
    except OSError:
        return ""


def mode_from_srvr(reply: str) -> ZooKeeperMode:
    """The ``Mode:`` line of a ``srvr`` reply; a running node outside a quorum answers without one."""
    if not reply:
        return "down"
    for line in reply.splitlines():
        if line.startswith("Mode:"):
            mode = line.split(":", 1)[1].strip()
            if mode in ("leader", "follower", "standalone"):
                return mode  # type: ignore[return-value]
    return "no quorum"


@dataclass(frozen=True)
class ZooKeeperAddress:
    """Where one node listens: clients on ``client_port``, peers on ``quorum_port`` and ``election_port``."""

    server_id: int
    host: str
    client_port: int
    quorum_port: int
    election_port: int


def zoo_cfg(me: ZooKeeperAddress, peers: list[ZooKeeperAddress], data_dir: Path, tick_ms: int) -> str:
    lines = [
        f"tickTime={tick_ms}",
        "initLimit=20",
        "syncLimit=4",
        f"dataDir={data_dir}",
        f"clientPort={me.client_port}",
        f"clientPortAddress={me.host}",
        "admin.enableServer=false",
        "4lw.commands.whitelist=*",
        # Snapshots and logs of a throwaway ensemble need no purge task, and fsync only slows the tests.
        "forceSync=no",
        "autopurge.purgeInterval=0",
    ]
    if len(peers) > 1:
        lines += [f"server.{p.server_id}={p.host}:{p.quorum_port}:{p.election_port}" for p in peers]
    return "\n".join(lines) + "\n"


class ZooKeeperNode:
    """One QuorumPeerMain process (owned by a LocalNode, as a broker's is); its directory, and so its
    data, survives kill, pause and restart."""

    def __init__(self, name: str, address: ZooKeeperAddress, root: Path) -> None:
        self.name = name
        self._address = address
        self.root = root
        self.log_path = root / "node.log"
        argv = [
            "java",
            "-Xmx128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # starts faster; a test ensemble does little work
            f"-Dlog4j.configuration=file:{root / 'log4j.properties'}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            classpath(),
            MAIN_CLASS,
            str(root / "zoo.cfg"),
        ]
        self.process = LocalNode(name, LaunchSpec(argv, cwd=root), address.host, address.client_port, self.log_path)
        self._paused = False

    def __repr__(self) -> str:
        return f"<zookeeper {self.name} {self.endpoint} pid={self.pid}>"

    @property
    def address(self) -> ZooKeeperAddress:
        """Where the node listens now (a container's address may change when it starts again)."""
        return self._address

    @property
    def endpoint(self) -> str:
        return f"{self.address.host}:{self.address.client_port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def started(self) -> bool:
        """Started at least once (a node that is not alive then has exited or was killed)."""
        return self.pid is not None

    @property
    def alive(self) -> bool:
        return self.process.alive

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self) -> None:
        try:
            self.process.start()
        except NodeError as exc:
            raise ZooKeeperUnavailable(str(exc)) from None
        self._paused = False

    def kill(self) -> None:
        if self.process.alive:
            self.process.kill()
        self._paused = False

    def pause(self) -> None:
        if not self.alive:
            raise ZooKeeperUnavailable(f"{self.name} is not running: cannot pause it")
        self.process.pause()
        self._paused = True

    def resume(self) -> None:
        self.process.resume()
        self._paused = False

    def mode(self, timeout: float = 1.0) -> ZooKeeperMode:
        if not self.alive or self._paused:
            return "down"
        return mode_from_srvr(four_letter(self.address.host, self.address.client_port, "srvr", timeout))

    def logs(self, tail: int = 20) -> str:
        return self.process.logs(tail)


class ZooKeeperEnsemble:
    """``size`` ZooKeeper nodes (zk1, zk2, ...) on loopback; started by ``start()``, reaped by ``reap()``."""

    def __init__(
        self,
        size: int = 3,
        host: str = "127.0.0.1",
        workdir: Path | None = None,
        tick_ms: int = DEFAULT_TICK_MS,
        ports: PortAllocator | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"ZooKeeperEnsemble: size must be at least 1, got {size}")
        classpath()  # fail now, with the install hint, rather than at the first start
        self.host = host
        self.tick_ms = tick_ms
        self.root = Path(tempfile.mkdtemp(prefix="amq-harness-zk-", dir=workdir))
        register_directory(self.root)
        allocate = (ports or PortAllocator(host)).allocate
        addresses = [ZooKeeperAddress(i, host, allocate(), allocate(), allocate()) for i in range(1, size + 1)]
        self.nodes: list[ZooKeeperNode] = []
        self._killed: set[str] = set()
        for address in addresses:
            node_root = self.root / f"zk{address.server_id}"
            (node_root / "data").mkdir(parents=True)
            (node_root / "data" / "myid").write_text(f"{address.server_id}\n")
            (node_root / "zoo.cfg").write_text(zoo_cfg(address, addresses, node_root / "data", tick_ms))
            (node_root / "log4j.properties").write_text(_LOG4J)
            self.nodes.append(ZooKeeperNode(f"zk{address.server_id}", address, node_root))
        _live_ensembles.add(self)

    def __repr__(self) -> str:
        return f"<zookeeper ensemble {self.connect_string}>"

    @property
    def size(self) -> int:
        return len(self.nodes)

    @property
    def quorum(self) -> int:
        return self.size // 2 + 1

    @property
    def connect_string(self) -> str:
        """The zkAddress brokers are given: every node's client address, comma separated."""
        return ",".join(node.endpoint for node in self.nodes)

    def node(self, name: str) -> ZooKeeperNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no ZooKeeper node {name!r} (nodes: {', '.join(n.name for n in self.nodes)})")

    def start(self, timeout: float = 60.0) -> ZooKeeperEnsemble:
        """Start every node and wait until each one serves (a leader and its followers), so that a
        fault injected next meets the whole ensemble."""
        try:
            for node in self.nodes:
                node.start()
            self._wait(self.all_serving, timeout, "every node to join the ensemble")
        except BaseException:
            self.reap()
            raise
        log.info("zookeeper ensemble up: %s (%s)", self.connect_string, self.modes())
        return self

    def modes(self) -> dict[str, ZooKeeperMode]:
        return {node.name: node.mode() for node in self.nodes}

    def serving(self) -> bool:
        """True when a live node leads (or stands alone) and a quorum answers as leader or follower.

        Followers of a leader that just died still say "follower" for up to syncLimit ticks, so a
        leader among the answering nodes is required as well.
        """
        modes = list(self.modes().values())
        leads = "leader" in modes or "standalone" in modes
        return leads and sum(mode in ("leader", "follower", "standalone") for mode in modes) >= self.quorum

    def all_serving(self) -> bool:
        return all(mode in ("leader", "follower", "standalone") for mode in self.modes().values())

    def wait_serving(self, timeout: float = 60.0) -> None:
        self._wait(self.serving, timeout, "the ensemble to elect a leader")

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # A node a fault killed on purpose is not a start-up failure.
            dead = [n for n in self.nodes if n.started and not n.alive and n.name not in self._killed]
            if dead:
                raise ZooKeeperUnavailable(
                    f"zookeeper {dead[0].name} exited; its log ({dead[0].log_path}) ends with:\n{dead[0].logs()}"
                )
            if condition():
                return
            time.sleep(0.1)
        tails = "\n".join(f"--- {n.name}:\n{n.logs(10)}" for n in self.nodes)
        raise ZooKeeperUnavailable(f"timed out after {timeout:.0f} s waiting for {what} ({self.modes()}):\n{tails}")

    def on_moved(self, callback: Callable[[ZooKeeperNode], None]) -> None:
        """Call ``callback`` with every node that starts again at another address (local nodes never do)."""

    def kill(self, name: str) -> None:
        self._killed.add(name)
        self.node(name).kill()

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Start a killed node again; it rejoins the ensemble from its own data directory."""
        node = self.node(name)
        node.kill()
        node.start()
        self._killed.discard(name)
        self._wait(lambda: node.mode() in ("leader", "follower", "standalone"), timeout, f"{name} to rejoin")

    def reap(self) -> None:
        """Kill every node this ensemble started and remove its directories. Safe to call twice."""
        for node in self.nodes:
            try:
                node.resume()
                node.kill()
            except Exception as exc:  # teardown must reach every node
                log.error("reaping %r failed: %s", node, exc)
        with contextlib.suppress(Exception):
            shutil.rmtree(self.root, ignore_errors=True)
        _live_ensembles.discard(self)

    def __enter__(self) -> ZooKeeperEnsemble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reap()
