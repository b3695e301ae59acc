"""A cluster: a topology instantiated by a vendor on a runtime, with role probes.

Roles are read from the outside, the same way for every vendor: a node that answers a STOMP
CONNECT is acting as master; a running node that does not is a slave.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Literal

from harness.broker.config.replicated_leveldb import ROUTES_ENV
from harness.errors import ScenarioError, UnknownName
from harness.history import PROBE, PROBE_NODE, History
from harness.network_ready import (
    BRIDGES_TIMEOUT_S,
    Bridge,
    BridgesNotReady,
    Side,
    configured_bridges,
    probe_bridge,
    probeable,
    wait_for_bridges,
)
from harness.probe import stomp_accepts
from harness.runtime.base import START_MARKER, DatabaseProvider, Node, NodeError, Runtime
from harness.services import DatabaseRef, DatabaseServer, ZooKeeperEnsemble
from harness.services.zookeeper import ZooKeeperNode
from harness.topology.model import MasterSlaveGroup, Topology
from harness.topology.network import BridgeAddress, NetworkConnector, connector_uri, multicast_uri
from harness.topology.render import DataSource, NodeConfig, NodeNetwork, ReplicationNode, render_activemq_xml
from harness.toxiproxy.links import BuiltinToxiproxy, LinkProxies, ProxiedLink
from harness.vendors.base import Vendor

log = logging.getLogger("harness.cluster")

Role = Literal["master", "slave", "down"]

# Client-side failover options the harness uses unless a scenario says otherwise: retry quickly,
# so that the failover time measured is the broker's, not the client's back-off.
DEFAULT_FAILOVER_OPTIONS = {"randomize": "false", "initialReconnectDelay": "10", "maxReconnectDelay": "200"}


SLAVE_LOG_LINE = "This broker is now in slave mode waiting a lock to be acquired"
# What a node logs when it starts waiting for the lock: both vendors' shared-file locker and
# pybroker's JDBC lockers log SLAVE_LOG_LINE; ActiveMQ's JDBC lockers log one of the next two, but
# on a second start against existing tables its createTablesOnStartup blocks on the master's lock
# first, so that the last line it logs is the store's.
STANDBY_LOG_LINES = (
    SLAVE_LOG_LINE,
    "Attempting to acquire the exclusive lock to become the Master broker",
    "attempting to acquire exclusive lease to become the master",
    "Using Persistence Adapter: JDBCPersistenceAdapter",
    "as a replica:",  # pybroker's replicated store: attached to the master and holding its state
)
STANDBY_SETTLE_S = 1.0
# <replicatedLevelDB bind=...>'s default port, where a master serves its replicas.
REPLICATION_PORT = 61619


class ClusterError(RuntimeError):
    pass


class Cluster:
    """``databases`` serves JDBC groups (one fresh database per group); by default the runtime's own
    servers. Each node of a JDBC group reaches its database through its own link proxy, and with
    ``topology.client_links`` the clients reach each node through one too.

    ``bridges_timeout``: how long a network's bridges may take to carry a probe message at start.

    ``link_proxies`` is the run's Toxiproxy server; without one the cluster starts the built-in server
    for itself when it first needs a link. Other links a topology wants to break (broker to broker,
    broker to ZooKeeper) come from ``link_proxy(name, upstream)``: connect to the address it returns
    instead of the upstream, and faults reach the link by that name.

    ``with Cluster(...) as cluster:`` starts it and stops it (every node, link and container) on exit,
    a start that fails half-way included; ``start()`` and ``stop()`` do the same by hand.
    """

    _instances = 0

    def __init__(
        self,
        topology: Topology,
        vendor: Vendor,
        runtime: Runtime,
        databases: DatabaseProvider | None = None,
        link_proxies: LinkProxies | Callable[[], LinkProxies] | None = None,
        bridges_timeout: float = BRIDGES_TIMEOUT_S,
    ) -> None:
        self.topology = topology
        self.bridges_timeout = bridges_timeout
        self.vendor = vendor
        self.runtime = runtime
        self.nodes: dict[str, Node] = {}
        self.configs: dict[str, str] = {}
        self.databases: dict[str, tuple[DatabaseServer, DatabaseRef]] = {}
        self.links: dict[str, ProxiedLink] = {}  # each JDBC node's link to its database, by node
        self.client_links: dict[str, ProxiedLink] = {}  # the clients' link to each node, by node
        self.named_links: dict[str, ProxiedLink] = {}  # links a topology made with link_proxy(), by name
        self.bridge_addresses: dict[str, BridgeAddress] = {}
        self.zookeepers: dict[str, ZooKeeperEnsemble] = {}
        self.zookeeper_links: dict[str, list[ProxiedLink]] = {}  # each replicated node's links to ZooKeeper
        self._replication_ports: dict[str, dict[str, int]] = {}  # replicated group -> node -> bind port
        self._replication_routes: dict[str, str] = {}  # node -> its routes to the others (pybroker's env)
        self._databases = databases
        self._link_proxies = link_proxies
        self._own_link_server: BuiltinToxiproxy | None = None
        # Proxy names are unique on a server that several clusters (or runs) may share.
        Cluster._instances += 1
        self._link_prefix = f"amqh{os.getpid()}-{Cluster._instances}"

    @property
    def link_proxies(self) -> LinkProxies:
        """The Toxiproxy server of this cluster's links, asked for (or started) when first needed."""
        if callable(self._link_proxies):
            self._link_proxies = self._link_proxies()
        if self._link_proxies is None:
            self._own_link_server = BuiltinToxiproxy()
            self._link_proxies = LinkProxies(self._own_link_server.url)
        return self._link_proxies

    def link_proxy(self, name: str, upstream: tuple[str, int] | str, listen_host: str | None = None) -> ProxiedLink:
        """A proxied link named ``name`` to ``upstream``; by default it listens where brokers reach the
        harness's services (the runtime's services host)."""
        if name in self.named_links:
            raise ClusterError(f"link {name!r} exists already ({self.named_links[name].listen})")
        link = self.link_proxies.create(
            f"{self._link_prefix}.{name}", upstream, listen_host or self.runtime.services_host, label=name
        )
        self.named_links[name] = link
        return link

    def _data_source(self, group: MasterSlaveGroup, node: str) -> DataSource | None:
        if group.jdbc is None:
            return None
        if group.name not in self.databases:
            provider = self._databases or self.runtime.databases()
            self.databases[group.name] = provider.create_database(group.jdbc.database)
        server, db = self.databases[group.name]
        link = self.links[node] = self.link_proxies.create(
            f"{self._link_prefix}.{node}.{db.kind}",
            (server.host, server.port),
            self.runtime.services_host,
            label=f"{node}->{db.kind}",
        )
        return DataSource(db.driver_class, db.url(link.listen_host, link.listen_port), db.user, db.password)

    def repoint_database_links(self, group: str | None = None) -> None:
        """Send the group's database links to the server's current address (a container restarted by an
        outage may have another one)."""
        name = self.group(group).name
        server, _ = self.database(name)
        for node in self.group(name).nodes:
            self.links[node].repoint((server.host, server.port))

    def _bridge_targets(self, connector: NetworkConnector) -> dict[str, BridgeAddress]:
        """Where the connector's node reaches each target: directly, or through the link proxy
        "<node>-><target>" when the topology proxies its bridges."""
        if not self.topology.bridge_links:
            return self.bridge_addresses
        targets: dict[str, BridgeAddress] = {}
        for target in connector.targets:
            name = f"{connector.node}->{target}"
            address = self.bridge_addresses[target]
            # The proxy listens where brokers reach the harness's services and relays to where this
            # machine reaches the target's listener (a container's is published on loopback).
            link = self.named_links.get(name) or self.link_proxy(name, address.outside)
            targets[target] = BridgeAddress(
                address.listen_host, address.listen_port, link.listen_host, link.listen_port
            )
        return targets

    def _network(self, node: str, multicast_group: str) -> NodeNetwork | None:
        """The node's inter-broker listener and connectors, their targets resolved to addresses."""
        if not self.topology.is_network:
            return None
        address = self.bridge_addresses[node]
        connectors = self.topology.connectors_of(node)
        multicast = any(c.discovery == "multicast" for c in connectors)
        return NodeNetwork(
            listen_host=address.listen_host,
            listen_port=address.listen_port,
            connectors=tuple((connector_uri(c, self._bridge_targets(c), multicast_group), c) for c in connectors),
            discovery_uri=multicast_uri(multicast_group) if multicast else None,
        )

    def _replication(self, group: MasterSlaveGroup, node: str) -> ReplicationNode | None:
        """A replicated group's ZooKeeper ensemble (started with the group's first node) and where
        ``node`` serves its replicas when master."""
        if group.replicated is None:
            return None
        if group.name not in self.zookeepers:
            ensemble = self.runtime.zookeeper_ensemble(group.replicated.zookeepers, group.name)
            self.zookeepers[group.name] = ensemble
            ensemble.on_moved(self._repoint_zookeeper_links)
            ensemble.start()
        if self.runtime.name == "local":
            ports = self._replication_ports.get(group.name) or {n: self.runtime.allocate_port() for n in group.nodes}
            self._replication_ports[group.name] = ports
            bind_host, bind_port, hostname = self.runtime.host, ports[node], self.runtime.host
        else:  # a container: ActiveMQ's default bind port, reached by its name on the cluster's network
            bind_host, bind_port, hostname = "0.0.0.0", REPLICATION_PORT, node
        if group.replicated.replication_links:
            self._replication_routes[node] = self._replication_links(group, node)
        # Each broker reaches every ZooKeeper node through a link of its own, so that one broker can be
        # cut from ZooKeeper while it still reaches its peers and clients.
        links = self.zookeeper_links[node] = [
            self.link_proxy(f"{node}->{zk.name}", (zk.address.host, zk.address.client_port))
            for zk in self.zookeepers[group.name].nodes
        ]
        return ReplicationNode(
            zk_address=",".join(link.listen for link in links),
            bind_host=bind_host,
            bind_port=bind_port,
            hostname=hostname,
            replicas=len(group.nodes),
            weight=group.replicated.weight(group.nodes.index(node)),
        )

    def _repoint_zookeeper_links(self, moved: ZooKeeperNode) -> None:
        """Send every broker's link to a ZooKeeper node that started again elsewhere to its new address."""
        for links in self.zookeeper_links.values():
            for link in links:
                if link.label.endswith(f"->{moved.name}"):
                    link.repoint((moved.address.host, moved.address.client_port))

    def _replication_links(self, group: MasterSlaveGroup, node: str) -> str:
        """Links "<node>-><peer>" to each peer's replication port, as the routes pybroker's slave dials
        instead of the address a master publishes (ActiveMQ's slaves have no such setting)."""
        if self.runtime.name != "local":
            raise ClusterError(
                f"topology {self.topology.name}: replication links run on the local runtime only (a broker "
                "container that starts again may get another address, which the links do not follow)"
            )
        routes = []
        for peer, port in self._replication_ports[group.name].items():
            if peer != node:
                link = self.link_proxy(f"{node}->{peer}", (self.runtime.host, port))
                routes.append(f"{self.runtime.host}:{port}={link.listen}")
        return ",".join(routes)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0, bridges_timeout: float | None = None) -> Cluster:
        """Start every node; the first node of each group starts first so that it becomes master (a
        replicated group starts all at once: no node can be master before a quorum of them is up).
        A network is up once every bridge has carried a probe message (within ``bridges_timeout``,
        by default the cluster's)."""
        self.vendor.check_installed()
        # Every bridge target's address is known before any node's configuration is written.
        if self.topology.is_network:
            self.bridge_addresses = {n: self.runtime.bridge_address(n) for n in self.topology.nodes}
        # A multicast group of this cluster's own: brokers of other runs on this machine stay apart.
        multicast_group = f"amqh-{uuid.uuid4().hex[:12]}"
        for group in self.topology.groups:
            for name in group.nodes:
                # A replicated store is each node's own; the others share one.
                store = self.runtime.node_dir(name) / "leveldb" if group.replicated else self.store_dir(group.name)
                port = self.runtime.allocate_port()
                # In a container the broker listens on its own address; clients use the published one.
                listen_host, listen_port = self.runtime.listen_address(port)
                config = NodeConfig(
                    broker_name=name,
                    data_dir=self.runtime.node_dir(name) / "data",
                    store_dir=store,
                    stomp_host=listen_host,
                    stomp_port=listen_port,
                    lock=group.lock,
                    broker=group.broker,
                    jdbc=group.jdbc,
                    data_source=self._data_source(group, name),
                    network=self._network(name, multicast_group),
                    replicated=group.replicated,
                    replication=self._replication(group, name),
                )
                xml = render_activemq_xml(config)
                self.configs[name] = xml
                launch = self.vendor.prepare(self.runtime.node_dir(name), xml)
                if name in self._replication_routes:
                    launch = dataclasses.replace(launch, env={**launch.env, ROUTES_ENV: self._replication_routes[name]})
                self.nodes[name] = self.runtime.add_node(name, launch, port)
                if self.topology.client_links:
                    proxy_name, label = f"{self._link_prefix}.clients.{name}", f"clients->{name}"
                    endpoint = self.nodes[name].endpoint
                    self.client_links[name] = self.link_proxies.create(proxy_name, endpoint, "127.0.0.1", label)
        for group in self.topology.groups:
            if group.replicated is not None:
                for name in group.nodes:
                    self.nodes[name].start()
                self._wait_running(list(group.nodes), settle=0.2)
                self.wait_for_master(group.name, timeout)
                continue
            first, *rest = group.nodes
            self.nodes[first].start()
            self._wait_first_master(group.name, self.nodes[first], timeout)
            for name in rest:
                self.nodes[name].start()
            if rest:
                self._wait_running(rest, settle=1.0)
        if self.topology.is_network:
            self.wait_for_bridges(self.bridges_timeout if bridges_timeout is None else bridges_timeout)
        log.info(
            "cluster %s on %s/%s is up: %s",
            self.topology.name,
            self.vendor.name,
            self.runtime.name,
            self.roles(),
        )
        return self

    def _wait_first_master(self, group: str, first: Node, timeout: float) -> None:
        """Like wait_for_master, but a first node that exits (a refused config, say) fails at once."""
        deadline = time.monotonic() + timeout
        while not first.alive or self.role(first.name) != "master":
            if not first.alive:
                raise NodeError(f"node {first.name} exited during start-up; its log ends with:\n{first.logs(tail=30)}")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"group {group}: node {first.name} did not accept STOMP within {timeout:.0f} s; "
                    f"its log ends with:\n{first.logs(tail=30)}"
                )
            time.sleep(0.05)

    def _wait_running(self, names: list[str], settle: float) -> None:
        """Slaves open no port: a node is up once it has logged that it waits for the lock (or holds its
        replica), or failing that, once it has stayed alive for ``settle`` seconds. A slave that logs
        standby at once (pybroker) is not kept waiting; one still starting (a JVM) gets ``settle``."""
        deadline = time.monotonic() + settle
        waiting = list(names)
        while True:
            for name in names:
                node = self.nodes[name]
                if not node.alive:
                    raise NodeError(f"node {name} exited during start-up; its log ends with:\n{node.logs(tail=30)}")
            waiting = [name for name in waiting if not self._logged_standby(self.nodes[name])]
            if not waiting or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    @staticmethod
    def _logged_standby(node: Node) -> bool:
        """Whether the node's current run has logged one of STANDBY_LOG_LINES."""
        current_run = node.logs().rsplit(START_MARKER, 1)[-1]
        return any(line in current_run for line in STANDBY_LOG_LINES)

    def wait_for_bridges(self, timeout: float = BRIDGES_TIMEOUT_S) -> float:
        """Block until every bridge of the network has carried a probe message between the groups'
        current masters (harness/network_ready.py says why a probe); return the seconds it took. A bridge
        that carries nothing within ``timeout`` raises BridgesNotReady naming it, with its broker's log."""
        bridges = []
        for bridge in configured_bridges(self.topology):
            if probeable(self.topology, bridge):
                bridges.append(bridge)
            else:
                log.info("bridge %s: not probed (its connector filters destinations)", bridge)

        def probe(bridge: Bridge, queue: str, deadline: float, stop: threading.Event) -> bool:
            return probe_bridge(
                lambda: self._probe_side(bridge.source), lambda: self._probe_side(bridge.target), queue, deadline, stop
            )

        try:
            return wait_for_bridges(bridges, probe, timeout)
        except BridgesNotReady as exc:
            logs = "\n".join(
                f"--- {b.connector}:\n{self.nodes[b.connector].logs(tail=15)}"
                for b in {b.connector: b for b in exc.missing}.values()
            )
            raise BridgesNotReady(exc.missing, timeout, f"connector logs end with:\n{logs}") from None

    def _probe_side(self, group: str) -> Side | None:
        """Where a bridge probe reaches the group now: its current master (looked up on every try, so a
        takeover during the wait moves the probe too), or None while it has no single master."""
        # Only this group's nodes: it runs on each try of each probe, and roles() would ask every node.
        masters = [name for name in self.group(group).nodes if self.role(name) == "master"]
        if len(masters) != 1:
            return None
        master = self.nodes[masters[0]]
        login, passcode = self.credentials(group)
        return Side(master.host, master.stomp_port, login, passcode)

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def restart_all(self, timeout: float = 60.0) -> list[Node]:
        """Stop every node (gracefully), start them all again and wait for every group's master.

        Used after a run with receipted messages missing: whatever a broker kept in its store but did
        not deliver shows up once the store is loaded afresh.
        """
        for node in self.nodes.values():
            node.stop()
        for node in self.nodes.values():
            node.start()
        log.info("cluster %s: every node restarted", self.topology.name)
        return self.wait_for_any_master(timeout)

    def stop(self) -> None:
        try:
            self.runtime.close()
        finally:
            try:
                for ensemble in self.zookeepers.values():
                    ensemble.reap()
            finally:
                try:
                    if isinstance(self._link_proxies, LinkProxies):
                        self._link_proxies.close()
                finally:
                    if self._own_link_server is not None:
                        self._own_link_server.close()

    # -- addressing -------------------------------------------------------------------------
    def group(self, name: str | None = None) -> MasterSlaveGroup:
        if name is None:
            return self.topology.groups[0]
        for group in self.topology.groups:
            if group.name == name:
                return group
        raise UnknownName("group", name, (g.name for g in self.topology.groups))

    def node(self, node: Node | str) -> Node:
        """A node of this cluster, by name or as a Node; an unknown name is a ScenarioError listing the known ones."""
        name = node if isinstance(node, str) else getattr(node, "name", node)
        if not isinstance(name, str) or name not in self.nodes:
            raise UnknownName("node", name, self.nodes)
        return self.nodes[name]

    def database(self, group: str | None = None) -> tuple[DatabaseServer, DatabaseRef]:
        """The server and database of a JDBC group."""
        name = self.group(group).name
        if name not in self.databases:
            raise ClusterError(f"group {name} has no database (its store is {self.group(group).store})")
        return self.databases[name]

    def zookeeper(self, group: str | None = None) -> ZooKeeperEnsemble:
        """The ZooKeeper ensemble of a replicated group."""
        name = self.group(group).name
        if name not in self.zookeepers:
            raise ClusterError(f"group {name} has no ZooKeeper ensemble (its store is {self.group(group).store})")
        return self.zookeepers[name]

    def link(self, node: str) -> ProxiedLink:
        """The link between a node of a JDBC group and its database."""
        if node not in self.links:
            if node not in self.topology.nodes:
                raise UnknownName("node", node, self.topology.nodes)
            raise ScenarioError(f"node {node} has no database link (not in a JDBC group)")
        return self.links[node]

    def client_link(self, node: str) -> ProxiedLink:
        """The link between the clients and a node (topologies with ``client_links``)."""
        if node not in self.client_links:
            if node not in self.topology.nodes:
                raise UnknownName("node", node, self.topology.nodes)
            raise ScenarioError(
                f"node {node}: its clients connect directly; a fault on the clients' link needs its proxy: mark the "
                "scenario @pytest.mark.needs_fault('isolate_clients') (or give the topology client_links=True)"
            )
        return self.client_links[node]

    def named_link(self, name: str) -> ProxiedLink:
        if name not in self.named_links:
            bridge = name.partition("->")
            if self.topology.is_network and not self.topology.bridge_links and bridge[0] in self.topology.nodes:
                raise ScenarioError(
                    f"link {name!r}: this network's bridges run directly; a fault on a bridge needs its proxy: mark "
                    "the scenario @pytest.mark.needs_fault('bridge_link') (or give the topology bridge_links=True)"
                )
            raise UnknownName("link", name, self.named_links)
        return self.named_links[name]

    def client_endpoint(self, node: str) -> str:
        """Where clients connect to a node: its client link when the topology has them, else the node."""
        link = self.client_links.get(node)
        return link.listen if link is not None else self.nodes[node].endpoint

    def store_dir(self, group: str | None = None) -> Path:
        return self.runtime.shared_dir(self.group(group).name) / "kahadb"

    def lock_path(self, group: str | None = None) -> Path:
        return self.store_dir(group) / "lock"

    def endpoint_names(self) -> dict[str, str]:
        names = {node.endpoint: name for name, node in self.nodes.items()}
        names.update({link.listen: name for name, link in self.client_links.items()})
        return names

    def failover_uri(self, group: str | None = None, **options: object) -> str:
        members = self.group(group).nodes
        inner = ",".join(f"tcp://{self.client_endpoint(n)}" for n in members)
        merged = {
            **DEFAULT_FAILOVER_OPTIONS,
            **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()},
        }
        query = "&".join(f"{k}={v}" for k, v in merged.items())
        return f"failover:({inner})?{query}"

    # -- roles ------------------------------------------------------------------------------
    def role(self, name: str, timeout: float = 0.5) -> Role:
        node = self.nodes[name]
        if not node.alive:
            return "down"
        login, passcode = self.credentials(self.topology.group_of(name).name)
        return "master" if stomp_accepts(node.host, node.stomp_port, timeout, login, passcode) else "slave"

    def credentials(self, group: str | None = None) -> tuple[str | None, str | None]:
        """A login and passcode the group's brokers accept: its first user when it requires authentication."""
        auth = self.group(group).broker.authentication
        if auth is None:
            return None, None
        user = auth.users[0]
        return user.name, user.password

    def roles(self) -> dict[str, Role]:
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
            return dict(zip(self.nodes, pool.map(self.role, self.nodes), strict=True))

    def masters(self, group: str | None = None) -> list[Node]:
        names = self.group(group).nodes
        roles = self.roles()
        return [self.nodes[n] for n in names if roles[n] == "master"]

    def master(self, group: str | None = None) -> Node:
        masters = self.masters(group)
        if len(masters) != 1:
            raise ClusterError(
                f"group {self.group(group).name}: expected one master, found {len(masters)}: {self.roles()}"
            )
        return masters[0]

    def wait_for_master(self, group: str | None = None, timeout: float = 30.0, exclude: tuple[str, ...] = ()) -> Node:
        """Block until exactly one node of the group (not in ``exclude``) accepts clients."""
        deadline = time.monotonic() + timeout
        while True:
            masters = [m for m in self.masters(group) if m.name not in exclude]
            if len(masters) == 1:
                return masters[0]
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}:\n{self.nodes[n].logs(tail=15)}" for n in self.group(group).nodes)
                raise ClusterError(
                    f"group {self.group(group).name}: no single master within {timeout:.0f} s "
                    f"(roles {self.roles()}); node logs end with:\n{logs}"
                )
            time.sleep(0.05)

    def wait_standby(self, node: Node, timeout: float = 30.0) -> None:
        """Block until a (re)started node is up as a slave: it logged that it waits for the lock, it is
        alive, and it does not accept clients."""
        deadline = time.monotonic() + timeout
        standing_by_since: float | None = None
        while time.monotonic() < deadline:
            if not node.alive:
                raise ClusterError(f"node {node.name} exited; its log ends with:\n{node.logs(tail=20)}")
            if self._logged_standby(node) and self.role(node.name) == "slave":
                # Still a slave a moment later: not a node on its way to serving.
                standing_by_since = standing_by_since or time.monotonic()
                if time.monotonic() - standing_by_since >= STANDBY_SETTLE_S:
                    return
            else:
                standing_by_since = None
            time.sleep(0.1)
        raise ClusterError(f"node {node.name} did not become a slave within {timeout:.0f} s: {node.logs(tail=20)}")

    def log_mark(self, node: Node | str) -> int:
        """Where a node's log ends now: ``wait_for_log(..., since=mark)`` reads only what comes after."""
        return len(self.node(node).logs())

    def wait_for_log(self, node: Node | str, line: str, since: int = 0, timeout: float = 30.0) -> None:
        """Block until the node logs ``line`` after ``since`` (a log_mark)."""
        target = self.node(node)
        deadline = time.monotonic() + timeout
        while line not in target.logs()[since:]:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"node {target.name} did not log {line!r} within {timeout:.0f} s; its log ends with:\n"
                    f"{target.logs(tail=20)}"
                )
            time.sleep(0.1)

    def comes_back(self, timeout: float = 30.0) -> bool:
        """True if every group has a master within ``timeout`` (a cluster that recovers by itself)."""
        try:
            self.wait_for_any_master(timeout)
        except ClusterError:
            return False
        return True

    def wait_for_any_master(self, timeout: float = 30.0) -> list[Node]:
        """Block until every group has at least one master (after faults heal); return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [self.masters(g.name) for g in self.topology.groups]
            if all(found):
                return [m for masters in found for m in masters]
            if time.monotonic() > deadline:
                raise ClusterError(f"no master within {timeout:.0f} s (roles {self.roles()})")
            time.sleep(0.05)

    @contextmanager
    def probing(self, history: History, interval: float = 0.2) -> Iterator[None]:
        """Probe every node in rounds while the block runs, recording each probe in the history."""
        stop = threading.Event()
        group_of = {n: g.name for g in self.topology.groups for n in g.nodes}

        def rounds() -> None:
            round_no = 0
            with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as pool:
                while not stop.is_set():
                    started = time.monotonic()
                    names = list(self.nodes)
                    answers = list(pool.map(lambda n: self.role(n) == "master", names))
                    for name, accepting in zip(names, answers, strict=True):
                        history.record(
                            PROBE,
                            "ok",
                            PROBE_NODE,
                            {"round": round_no, "accepting": accepting, "group": group_of[name]},
                            node=name,
                        )
                    round_no += 1
                    stop.wait(max(0.0, interval - (time.monotonic() - started)))

        thread = threading.Thread(target=rounds, name="probe", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
