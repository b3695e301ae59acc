"""The docker runtime: each node is a container on a private network made for its cluster.

Containers are described and created with testcontainers; its reaper container (ryuk) needs an image
from a registry, so it is disabled and this runtime reaps by itself: close() removes every container
and the network, an atexit hook closes runtimes a crashed run left open, and the labels let
``amq-harness docker prune`` (and the next run) remove what a killed run left behind.

Each node's directory and the shared stores are bind-mounted at the same paths as on the host, so
configs, logs and lock files have one path everywhere and lock stealing works as in the local
runtime. Brokers listen on 0.0.0.0:61613 inside their container; clients in the test process reach
them at 127.0.0.1:<a host port chosen per node>, fixed for the node's life so that restarts keep it.
Bind mounts and loopback ports assume the engine runs on this machine (the default local socket).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from harness.runtime.base import START_MARKER, NodeError
from harness.runtime.docker_database import ContainerDatabases
from harness.runtime.docker_labels import (
    CONTAINER_STOMP_PORT,
    LABEL_CLUSTER,
    LABEL_NODE,
    LABEL_RUN,
    RUN_ID,
    Owner,
    container_name,
    loopback_port_binding,
    network_name,
    node_command,
)
from harness.runtime.docker_zookeeper import ContainerZooKeeperEnsemble
from harness.runtime.engine import connect, container_status, engine_address
from harness.runtime.ports import PortAllocator
from harness.runtime.run import register_directory, register_docker_run
from harness.topology.network import BridgeAddress
from harness.vendors.base import LaunchSpec

# ActiveMQ's OpenWire port, where each container's inter-broker connector listens.
CONTAINER_BRIDGE_PORT = 61616

log = logging.getLogger("harness.runtime")

_live_runtimes: weakref.WeakSet[DockerRuntime] = weakref.WeakSet()
_pruned_once = threading.Event()


@atexit.register
def _remove_leftovers() -> None:
    for runtime in list(_live_runtimes):
        runtime.close()


class _NodeContainer(DockerContainer):
    def with_loopback_port(self, host_port: int | None, container_port: int = CONTAINER_STOMP_PORT) -> _NodeContainer:
        # testcontainers publishes ports on every host interface; a broker under test stays on loopback.
        if host_port is not None:
            self.ports.update(cast(dict[str, Any], loopback_port_binding(host_port, container_port)))
        return self


class DockerNode:
    def __init__(self, runtime: DockerRuntime, name: str, launch: LaunchSpec, stomp_port: int, log_path: Path) -> None:
        assert launch.image is not None
        self.name = name
        self.launch = launch
        self.host = runtime.host
        self.stomp_port = stomp_port
        self.log_path = log_path
        self.container_name = container_name(runtime.cluster_id, name)
        self._runtime = runtime
        self._lock = threading.RLock()
        self._isolated = False
        mounts = {runtime.node_dir(name), runtime.shared_root}
        self._spec = (
            _NodeContainer(launch.image)
            .with_name(self.container_name)
            .with_command(node_command(f"{START_MARKER} {name} ----", launch.argv))
            .with_network(runtime.network)
            .with_network_aliases(name)
            .with_loopback_port(stomp_port)
            .with_loopback_port(runtime.bridge_ports.get(name), CONTAINER_BRIDGE_PORT)
            # HOME: nodes run as the harness's uid, which may have no home directory in the image.
            .with_envs(**{"HOME": str(launch.cwd), **launch.env})
            .with_kwargs(
                hostname=name,
                labels={**runtime.labels, LABEL_NODE: name},
                # docker-init as PID 1 forwards SIGTERM and reaps, so the broker is not PID 1 (which
                # would ignore signals it has no handler for); docker kill -s KILL takes them all down.
                init=True,
                # Files in the bind mounts belong to whoever runs the harness, as with local processes.
                user=f"{os.getuid()}:{os.getgid()}",
                working_dir=str(launch.cwd),
            )
        )
        for path in sorted(mounts):
            self._spec.with_volume_mapping(str(path), str(path), "rw")

    def __repr__(self) -> str:
        return f"<node {self.name} {self.endpoint} container={self.container_name}>"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.stomp_port}"

    @property
    def container(self) -> Container | None:
        return cast("Container | None", self._spec._container)

    def _status(self) -> str:
        return container_status(self.container)

    @property
    def alive(self) -> bool:
        """Running or paused, as a stopped process still counts as alive in the local runtime."""
        return self._status() in ("running", "paused")

    @property
    def exit_code(self) -> int | None:
        container = self.container
        if container is None or self.alive:
            return None
        return int(container.attrs["State"]["ExitCode"])

    def _running(self) -> Container:
        container = self.container
        if container is None or not self.alive:
            raise NodeError(f"node {self.name} is not running")
        return container

    def start(self) -> None:
        with self._lock:
            if self.alive:
                raise NodeError(f"node {self.name} is already running (container {self.container_name})")
            try:
                if self.container is None:
                    self._spec.start()
                else:
                    self.container.start()
            except docker.errors.DockerException as exc:
                raise NodeError(
                    f"node {self.name}: cannot start container {self.container_name} from {self.launch.image}: {exc}"
                ) from exc
            log.info("node %s started (container %s, %s)", self.name, self.container_name, self.endpoint)

    def kill(self) -> None:
        with self._lock:
            container = self._running()
            container.kill(signal="SIGKILL")
            container.wait(timeout=30)
            log.info("node %s killed (docker kill -s KILL)", self.name)

    def pause(self) -> None:
        with self._lock:
            self._running().pause()
            log.info("node %s paused (docker pause)", self.name)

    def resume(self) -> None:
        with self._lock:
            if self._status() == "paused":
                assert self.container is not None
                self.container.unpause()
                log.info("node %s resumed (docker unpause)", self.name)

    def stop(self, timeout: float = 15.0) -> None:
        """docker stop: SIGTERM, then SIGKILL if the node has not exited within ``timeout``."""
        with self._lock:
            if not self.alive:
                return
            self.resume()
            assert self.container is not None
            self.container.stop(timeout=max(1, math.ceil(timeout)))
            log.info("node %s stopped (exit %s)", self.name, self.exit_code)

    def restart(self, timeout: float = 15.0) -> None:
        with self._lock:
            self.stop(timeout)
            self.start()

    def logs(self, tail: int | None = None) -> str:
        """The container's output over all its starts (each begins with the start marker)."""
        container = self.container
        if container is not None:
            try:
                raw = container.logs(stdout=True, stderr=True, tail="all" if tail is None else tail)
                return bytes(raw).decode("utf-8", errors="replace")
            except docker.errors.NotFound:
                pass
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text if tail is None else "\n".join(text.splitlines()[-tail:])

    # -- network partition -------------------------------------------------------------------
    @property
    def isolated(self) -> bool:
        return self._isolated

    def isolate(self) -> None:
        """Disconnect the container from the cluster's network: no peer and no client reaches it."""
        with self._lock:
            container = self._running()
            self._runtime.docker_network().disconnect(container.id)
            self._isolated = True
            log.info("node %s isolated (docker network disconnect)", self.name)

    def rejoin(self) -> None:
        with self._lock:
            if not self._isolated:
                return
            assert self.container is not None
            self._runtime.docker_network().connect(self.container.id, aliases=[self.name])
            self._isolated = False
            log.info("node %s rejoined the network (docker network connect)", self.name)

    def remove(self) -> None:
        """Keep the container's output in log_path (reports read it after teardown), then remove it."""
        with self._lock:
            container = self.container
            if container is None:
                return
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self.log_path.write_bytes(bytes(container.logs(stdout=True, stderr=True)))
            except (docker.errors.DockerException, OSError) as exc:
                log.warning("node %s: could not save its log: %s", self.name, exc)
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
            self._spec._container = None
            self._spec.get_docker_client().client.close()


class DockerRuntime:
    """Containers on a network of their own; node dirs in ``workdir/<node>``, stores in ``workdir/shared``."""

    name = "docker"
    faults = frozenset({"partition"})

    def __init__(self, workdir: Path | None = None, host: str = "127.0.0.1", database_image: str | None = None) -> None:
        # testcontainers reads this when it first starts a container: its reaper image cannot be pulled
        # without a registry, and this runtime removes what it creates by itself.
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        self.host = host
        self.workdir = (workdir or Path(tempfile.mkdtemp(prefix="amq-harness-"))).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.shared_root.mkdir(parents=True, exist_ok=True)
        self.client = connect()
        # Before anything is created: if this run dies, its watchdog removes the run's containers,
        # networks and directories.
        register_docker_run(RUN_ID, engine_address())
        register_directory(self.workdir)
        if not _pruned_once.is_set():
            _pruned_once.set()
            from harness.runtime.docker_reaper import prune

            prune(self.client, progress=log.info)
        self.ports = PortAllocator(host)
        self.cluster_id = f"{RUN_ID[:6]}-{os.urandom(3).hex()}"
        self.labels = {**Owner.current().labels(), LABEL_RUN: RUN_ID, LABEL_CLUSTER: self.cluster_id}
        self.network = Network(docker_network_kw={"labels": self.labels, "driver": "bridge"})
        self.network.name = network_name(self.cluster_id)
        self.network.create()
        self.nodes: dict[str, DockerNode] = {}
        self.bridge_ports: dict[str, int] = {}  # each networked node's inter-broker port, published on loopback
        self._database_image = database_image
        self._databases: ContainerDatabases | None = None
        self._zookeepers: list[ContainerZooKeeperEnsemble] = []
        # Brokers reach the harness's database links at the network's gateway, this machine's address on it.
        self.services_host = str(self.docker_network().attrs["IPAM"]["Config"][0]["Gateway"])
        self._closed = False
        _live_runtimes.add(self)
        log.info("runtime docker: network %s, workdir %s", self.network.name, self.workdir)

    @property
    def shared_root(self) -> Path:
        return self.workdir / "shared"

    def allocate_port(self) -> int:
        """A free port on the host's loopback, to publish one node's STOMP port on."""
        return self.ports.allocate()

    def listen_address(self, client_port: int) -> tuple[str, int]:
        return "0.0.0.0", CONTAINER_STOMP_PORT

    def bridge_address(self, node: str) -> BridgeAddress:
        # Bridges run between containers: peers reach a node by its network alias. The listener is also
        # published on the host's loopback, where the bridges' link proxies (on the host's network) reach it.
        port = self.bridge_ports.setdefault(node, self.ports.allocate())
        return BridgeAddress("0.0.0.0", CONTAINER_BRIDGE_PORT, node, CONTAINER_BRIDGE_PORT, "127.0.0.1", port)

    def node_dir(self, node: str) -> Path:
        path = self.workdir / node
        path.mkdir(parents=True, exist_ok=True)
        return path

    def shared_dir(self, name: str) -> Path:
        path = self.shared_root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def docker_network(self) -> Any:
        return self.client.networks.get(self.network.name)

    def add_node(self, name: str, launch: LaunchSpec, stomp_port: int) -> DockerNode:
        if name in self.nodes:
            raise NodeError(f"runtime docker: node {name} exists already")
        if launch.image is None:
            raise NodeError(
                f"runtime docker: node {name} names no image; use the vendor as it runs in its image "
                "(harness.images.vendors.vendor_in_image)"
            )
        node = DockerNode(self, name, launch, stomp_port, self.node_dir(name) / "node.log")
        self.nodes[name] = node
        return node

    def databases(self) -> ContainerDatabases:
        """Database servers as containers on this cluster's network, started on first use."""
        if self._databases is None:
            if self._database_image is None:
                from harness.images.recipes import database_image

                self._database_image = database_image()
            self._databases = ContainerDatabases(self, self._database_image)
        return self._databases

    def zookeeper_ensemble(self, size: int, group: str) -> ContainerZooKeeperEnsemble:
        """ZooKeeper servers as containers (zk1, zk2, ...) on this cluster's network, from the base image."""
        if self._database_image is None:
            from harness.images.recipes import database_image

            self._database_image = database_image()
        ensemble = ContainerZooKeeperEnsemble(self, self._database_image, size)
        self._zookeepers.append(ensemble)
        return ensemble

    def close(self) -> None:
        """Remove every container (saving its log) and the network. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for ensemble in self._zookeepers:
            try:
                ensemble.reap()
            except Exception as exc:  # teardown must reach every container
                log.error("removing ZooKeeper containers failed: %s", exc)
        if self._databases is not None:
            try:
                self._databases.close()
            except Exception as exc:  # teardown must reach every container
                log.error("removing database containers failed: %s", exc)
        for node in self.nodes.values():
            try:
                node.remove()
            except Exception as exc:  # teardown must reach every node
                log.error("removing node %s (container %s) failed: %s", node.name, node.container_name, exc)
        try:
            self.network.remove()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.error("removing network %s failed: %s (amq-harness docker prune removes it)", self.network.name, exc)
        _live_runtimes.discard(self)
        self.client.close()

    def __enter__(self) -> DockerRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
