"""Database servers as containers on a cluster's Docker network (docker runtime).

The server starts from the base image (which carries Debian's postgresql and mariadb-server), makes its
data directory inside the container on first start, and keeps it across kill -9 and start, as a
local server keeps its directory. The harness administers it with ``docker exec`` (psql, mariadb on the
server's own socket) and reaches it at its address on the cluster's network; brokers reach it through
their link proxies, so that the database sees each broker's connections coming from its own link.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, cast

import docker.errors
from testcontainers.core.container import DockerContainer

from harness.runtime.docker_labels import LABEL_NODE, container_name
from harness.services.database import PASSWORD, USER, DatabaseRef, DatabaseUnavailable
from harness.topology.model import DatabaseKind

if TYPE_CHECKING:
    from docker.models.containers import Container

    from harness.runtime.docker import DockerRuntime

log = logging.getLogger("harness.runtime")

DATA = "/var/lib/amq-harness"

# Runs as root in the container: make the data directory once, then become the database's own user.
_POSTGRES_SCRIPT = f"""set -e
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
mkdir -p {DATA} && chown postgres {DATA}
if [ ! -s {DATA}/pg/PG_VERSION ]; then
  runuser -u postgres -- "$bin/initdb" -D {DATA}/pg -A trust -U postgres --no-sync -E UTF8 >/dev/null
  echo "host all all 0.0.0.0/0 scram-sha-256" >> {DATA}/pg/pg_hba.conf
fi
exec runuser -u postgres -- "$bin/postgres" -D {DATA}/pg -c listen_addresses='*' -c max_connections=60 -k /tmp
"""

_MARIADB_SCRIPT = f"""set -e
mkdir -p {DATA} && chown mysql {DATA}
if [ ! -d {DATA}/my/mysql ]; then
  mariadb-install-db --no-defaults --datadir={DATA}/my --user=mysql --auth-root-authentication-method=normal \\
    --skip-test-db --skip-name-resolve >/dev/null
fi
exec mariadbd --no-defaults --datadir={DATA}/my --user=mysql --port=3306 --bind-address=0.0.0.0 \\
  --socket=/tmp/mysqld.sock --skip-name-resolve --innodb-buffer-pool-size=32M --max-connections=80 --skip-log-bin
"""


class ContainerDatabaseServer:
    """One PostgreSQL or MariaDB server in a container named ``db-<kind>`` on the cluster's network."""

    def __init__(self, runtime: DockerRuntime, kind: DatabaseKind, image: str) -> None:
        self.kind: DatabaseKind = kind
        self.port = 5432 if kind == "postgresql" else 3306
        self.name = f"db-{kind}"
        self._names = iter(range(1, 1_000_000))
        self._lock = threading.RLock()
        script = _POSTGRES_SCRIPT if kind == "postgresql" else _MARIADB_SCRIPT
        self._spec = (
            DockerContainer(image)
            .with_name(container_name(runtime.cluster_id, self.name))
            .with_command(["sh", "-c", script])
            .with_network(runtime.network)
            .with_network_aliases(self.name)
            .with_kwargs(hostname=self.name, labels={**runtime.labels, LABEL_NODE: self.name}, init=True)
        )
        self._network = runtime.network.name
        try:
            self._spec.start()
            self._wait_ready()
            if kind == "postgresql":
                self._sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
            else:
                self._sql(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
        except BaseException:
            self.reap()
            raise
        log.info("%s started in container %s (%s:%d)", kind, self._spec._name, self.host, self.port)

    def __repr__(self) -> str:
        return f"<{self.kind} container {self._spec._name}>"

    @property
    def container(self) -> Container:
        container = cast("Container | None", self._spec._container)
        if container is None:
            raise DatabaseUnavailable(f"{self.kind} container {self._spec._name} is gone")
        return container

    @property
    def host(self) -> str:
        """The server's address on the cluster's network (the harness reaches it there; Docker may give a
        restarted container another one)."""
        container = self.container
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"].get(self._network, {}).get("IPAddress")
        if not address:
            raise DatabaseUnavailable(f"{self.kind} container {self._spec._name} has no address (is it running?)")
        return str(address)

    @property
    def running(self) -> bool:
        try:
            container = self.container
            container.reload()
        except (DatabaseUnavailable, docker.errors.NotFound):
            return False
        return container.status == "running"

    def _exec(self, *argv: str) -> str:
        result = self.container.exec_run(list(argv), demux=False)
        output = bytes(result.output or b"").decode("utf-8", "replace")
        if result.exit_code != 0:
            raise DatabaseUnavailable(f"{self.kind} container: {' '.join(argv[:3])} failed: {output.strip()[-500:]}")
        return output

    def _sql(self, statement: str) -> list[list[str]]:
        """Run one statement as the server's superuser; rows as lists of strings."""
        if self.kind == "postgresql":
            out = self._exec("psql", "-h", "/tmp", "-U", "postgres", "-d", "postgres", "-AtF", "\t", "-c", statement)
        else:
            out = self._exec("mariadb", "--socket=/tmp/mysqld.sock", "-uroot", "-N", "-B", "-e", statement)
        return [line.split("\t") for line in out.splitlines() if line.strip()]

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.running:
                logs = bytes(self.container.logs()).decode("utf-8", "replace")[-1500:]
                raise DatabaseUnavailable(f"{self.kind} container {self._spec._name} exited:\n{logs}")
            try:
                self._sql("SELECT 1")
                return
            except DatabaseUnavailable as exc:
                last = str(exc)
            time.sleep(0.2)
        raise DatabaseUnavailable(f"{self.kind} container did not accept connections within {timeout:.0f} s: {last}")

    def create_database(self) -> DatabaseRef:
        with self._lock:
            name = f"activemq{next(self._names)}"
            if self.kind == "postgresql":
                self._sql(f"CREATE DATABASE {name} OWNER {USER}")
            else:
                self._sql(f"CREATE DATABASE {name}")
                self._sql(f"GRANT ALL ON {name}.* TO '{USER}'@'%'")
            return DatabaseRef(self.kind, self.host, self.port, name)

    def kill_sessions(self, database: DatabaseRef, client_ports: Collection[int] | None = None) -> int:
        if self.kind == "postgresql":
            rows = self._sql(f"SELECT pid, client_port FROM pg_stat_activity WHERE datname = '{database.name}'")
            victims = [pid for pid, port in rows if client_ports is None or (port and int(port) in client_ports)]
            for pid in victims:
                self._sql(f"SELECT pg_terminate_backend({int(pid)})")
            return len(victims)
        rows = self._sql(f"SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE DB = '{database.name}'")
        victims = [
            session
            for session, host in rows
            if client_ports is None or (":" in host and int(host.rsplit(":", 1)[1]) in client_ports)
        ]
        for session in victims:
            with contextlib.suppress(DatabaseUnavailable):  # the session ended by itself meanwhile
                self._sql(f"KILL {int(session)}")
        return len(victims)

    def stop_immediately(self) -> None:
        with self._lock:
            if self.running:
                self.container.kill(signal="SIGKILL")
                self.container.wait(timeout=30)
                log.info("%s container killed (docker kill -s KILL)", self.kind)

    def start(self) -> None:
        with self._lock:
            if not self.running:
                self.container.start()
                self._wait_ready()
                log.info("%s container started again (%s)", self.kind, self.host)

    def reap(self) -> None:
        container = cast("Container | None", self._spec._container)
        if container is None:
            return
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            log.error("removing %s container failed: %s (amq-harness docker prune removes it)", self.kind, exc)
        self._spec._container = None


class ContainerDatabases:
    """The database containers of one cluster, one per kind, started on first use."""

    def __init__(self, runtime: DockerRuntime, image: str) -> None:
        self.runtime = runtime
        self.image = image
        self.servers: dict[DatabaseKind, ContainerDatabaseServer] = {}
        self._lock = threading.Lock()

    def create_database(self, kind: DatabaseKind) -> tuple[ContainerDatabaseServer, DatabaseRef]:
        with self._lock:
            server = self.servers.get(kind)
            if server is None:
                server = self.servers[kind] = ContainerDatabaseServer(self.runtime, kind, self.image)
            elif not server.running:
                server.start()
        return server, server.create_database()

    def close(self) -> None:
        with self._lock:
            servers, self.servers = list(self.servers.values()), {}
        for server in servers:
            server.reap()
