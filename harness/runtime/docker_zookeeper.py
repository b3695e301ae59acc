"""A replicated group's ZooKeeper ensemble as containers on the cluster's Docker network (docker runtime).

Each node (zk1, zk2, ...) runs Debian's ZooKeeper server (QuorumPeerMain from libzookeeper-java, in
the base image) in a container named after it, with its network alias as its name: peers find each
other by name on ports 2888/3888, so a node that starts again with another address still rejoins.
Its data directory lives inside the container and so survives kill -9 and start, as a local node's
does. The harness reads roles with ``srvr`` at the container's address, and brokers reach every node
through their link proxies, which are sent to a node's new address when it starts again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import docker.errors
from testcontainers.core.container import DockerContainer

from harness.runtime.docker_labels import LABEL_NODE, container_name
from harness.runtime.engine import container_status
from harness.services.zookeeper import (
    _LOG4J,
    CLASSPATH_JARS,
    DEFAULT_TICK_MS,
    JAVA_LIB,
    MAIN_CLASS,
    ZooKeeperAddress,
    ZooKeeperEnsemble,
    ZooKeeperMode,
    ZooKeeperNode,
    ZooKeeperUnavailable,
    four_letter,
    mode_from_srvr,
    zoo_cfg,
)

if TYPE_CHECKING:
    from docker.models.containers import Container

    from harness.runtime.docker import DockerRuntime

log = logging.getLogger("harness.runtime")

CLIENT_PORT, QUORUM_PORT, ELECTION_PORT = 2181, 2888, 3888
HOME = "/var/lib/amq-harness-zk"


def container_script(server_id: int, size: int, tick_ms: int) -> str:
    """The container's command: write zoo.cfg, myid and the log configuration once, then run the server."""
    me = ZooKeeperAddress(server_id, "0.0.0.0", CLIENT_PORT, QUORUM_PORT, ELECTION_PORT)
    peers = [ZooKeeperAddress(i, f"zk{i}", CLIENT_PORT, QUORUM_PORT, ELECTION_PORT) for i in range(1, size + 1)]
    # Each node binds its quorum ports on every interface: its own name resolves to its address on the
    # network, which is the only one it has besides loopback, but may change across restarts.
    cfg = zoo_cfg(me, peers, Path(HOME) / "data", tick_ms) + "quorumListenOnAllIPs=true\n"
    classpath = ":".join(str(JAVA_LIB / jar) for jar in CLASSPATH_JARS)
    return f"""set -e
mkdir -p {HOME}/data
[ -s {HOME}/data/myid ] || echo {server_id} > {HOME}/data/myid
cat > {HOME}/zoo.cfg <<'EOF'
{cfg}EOF
cat > {HOME}/log4j.properties <<'EOF'
{_LOG4J}EOF
exec java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j.configuration=file:{HOME}/log4j.properties \\
  -Dzookeeper.jmx.log4j.disable=true -cp {classpath} {MAIN_CLASS} {HOME}/zoo.cfg
"""


class ContainerZooKeeperNode(ZooKeeperNode):
    """One ZooKeeper server in a container; ``on_moved`` hears of a start that gave it a new address."""

    def __init__(
        self, runtime: DockerRuntime, server_id: int, size: int, image: str, tick_ms: int, log_path: Path
    ) -> None:
        self.name = f"zk{server_id}"
        self.server_id = server_id
        self.root = log_path.parent
        self.log_path = log_path
        self.on_moved: Callable[[ZooKeeperNode], None] | None = None
        self._network = runtime.network.name
        self._paused = False
        self._lock = threading.RLock()
        self._host = ""
        self._spec = (
            DockerContainer(image)
            .with_name(container_name(runtime.cluster_id, self.name))
            .with_command(["sh", "-c", container_script(server_id, size, tick_ms)])
            .with_network(runtime.network)
            .with_network_aliases(self.name)
            .with_kwargs(hostname=self.name, labels={**runtime.labels, LABEL_NODE: self.name}, init=True)
        )

    def __repr__(self) -> str:
        return f"<zookeeper {self.name} container {self._spec._name}>"

    @property
    def container(self) -> Container | None:
        return cast("Container | None", self._spec._container)

    @property
    def address(self) -> ZooKeeperAddress:
        return ZooKeeperAddress(self.server_id, self._host, CLIENT_PORT, QUORUM_PORT, ELECTION_PORT)

    @property
    def pid(self) -> int | None:
        return None  # the server's process is the container's

    @property
    def started(self) -> bool:
        return self.container is not None

    def _status(self) -> str:
        return container_status(self.container)

    @property
    def alive(self) -> bool:
        return self._status() in ("running", "paused")

    def start(self) -> None:
        with self._lock:
            try:
                if self.container is None:
                    self._spec.start()
                elif not self.alive:
                    self.container.start()
            except docker.errors.DockerException as exc:
                raise ZooKeeperUnavailable(f"zookeeper {self.name}: cannot start its container: {exc}") from exc
            self._paused = False
            assert self.container is not None
            self.container.reload()
            host = self.container.attrs["NetworkSettings"]["Networks"].get(self._network, {}).get("IPAddress")
            if not host:
                raise ZooKeeperUnavailable(f"zookeeper {self.name}: its container has no address on {self._network}")
            moved, self._host = bool(self._host) and host != self._host, str(host)
            log.info("zookeeper %s started (container %s, %s)", self.name, self._spec._name, self.endpoint)
        if moved and self.on_moved is not None:
            self.on_moved(self)

    def kill(self) -> None:
        with self._lock:
            if self._status() in ("running", "paused"):
                assert self.container is not None
                self.container.kill(signal="SIGKILL")
                self.container.wait(timeout=30)
                log.info("zookeeper %s killed (docker kill -s KILL)", self.name)
            self._paused = False

    def pause(self) -> None:
        with self._lock:
            if not self.alive:
                raise ZooKeeperUnavailable(f"{self.name} is not running: cannot pause it")
            assert self.container is not None
            self.container.pause()
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            if self._status() == "paused":
                assert self.container is not None
                self.container.unpause()
            self._paused = False

    def mode(self, timeout: float = 1.0) -> ZooKeeperMode:
        if self._paused or not self._host or not self.alive:
            return "down"
        return mode_from_srvr(four_letter(self._host, CLIENT_PORT, "srvr", timeout))

    def logs(self, tail: int = 20) -> str:
        container = self.container
        if container is not None:
            try:
                return bytes(container.logs(tail=tail)).decode("utf-8", errors="replace")
            except docker.errors.NotFound:
                pass
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-tail:])
        except FileNotFoundError:
            return ""

    def remove(self) -> None:
        """Save the container's output in log_path, then remove it."""
        with self._lock:
            container = self.container
            if container is None:
                return
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self.log_path.write_bytes(bytes(container.logs()))
            except (docker.errors.DockerException, OSError) as exc:
                log.warning("zookeeper %s: could not save its log: %s", self.name, exc)
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException as exc:
                log.error("removing %r failed: %s (amq-harness docker prune removes it)", self, exc)
            self._spec._container = None


class ContainerZooKeeperEnsemble(ZooKeeperEnsemble):
    """``size`` ZooKeeper containers (zk1, zk2, ...) on the runtime's network; ``reap`` removes them."""

    def __init__(self, runtime: DockerRuntime, image: str, size: int = 3, tick_ms: int = DEFAULT_TICK_MS) -> None:
        if size < 1:
            raise ValueError(f"ZooKeeperEnsemble: size must be at least 1, got {size}")
        self.host = runtime.services_host
        self.tick_ms = tick_ms
        self.root = runtime.node_dir("zookeeper")
        self._killed: set[str] = set()
        self.container_nodes = [
            ContainerZooKeeperNode(runtime, i, size, image, tick_ms, self.root / f"zk{i}" / "node.log")
            for i in range(1, size + 1)
        ]
        self.nodes: list[ZooKeeperNode] = list(self.container_nodes)

    def __repr__(self) -> str:
        return f"<zookeeper ensemble in containers {', '.join(n.name for n in self.nodes)}>"

    def on_moved(self, callback: Callable[[ZooKeeperNode], None]) -> None:
        """Call ``callback`` with every node that starts again at another address."""
        for node in self.container_nodes:
            node.on_moved = callback

    def reap(self) -> None:
        for node in self.container_nodes:
            try:
                node.remove()
            except Exception as exc:  # teardown must reach every node
                log.error("reaping %r failed: %s", node, exc)
