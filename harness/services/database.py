"""Throwaway PostgreSQL and MariaDB servers, started as local processes for JDBC master/slave.

Each server runs from a fresh data directory on a free loopback port, as the database's own system
user (``postgres``, ``mysql``) when the harness runs as root, else as the current user. One owner
keeps its PID and reaps it whatever happens. A server hands out empty databases (one per cluster)
owned by the user ``activemq``/``activemq`` that the brokers' data source names.

``stop_immediately`` and ``start`` are the outage fault: for PostgreSQL ``pg_ctl stop -m immediate``
(no checkpoint, crash recovery on start), for MariaDB kill -9 of mariadbd. ``kill_sessions`` ends the
server-side sessions that come from given client ports (pg_terminate_backend, KILL).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.runtime.ports import PortAllocator
from harness.runtime.run import register_directory, register_process
from harness.topology.model import DatabaseKind

log = logging.getLogger("harness.services")

DATABASE_KINDS: tuple[DatabaseKind, ...] = ("postgresql", "mariadb")
USER = "activemq"
PASSWORD = "activemq"
INSTALL_HINT = {
    "postgresql": "run scripts/setup.sh (as root) or: apt-get install -y postgresql",
    "mariadb": "run scripts/setup.sh (as root) or: apt-get install -y mariadb-server",
}


class DatabaseUnavailable(RuntimeError):
    """The database server cannot be started here; the message says what is missing."""


@dataclass(frozen=True)
class DatabaseRef:
    """One database on one server, as a broker's data source bean describes it."""

    kind: DatabaseKind
    host: str
    port: int
    name: str
    user: str = USER
    password: str = PASSWORD

    @property
    def driver_class(self) -> str:
        return "org.postgresql.Driver" if self.kind == "postgresql" else "org.mariadb.jdbc.Driver"

    def url(self, host: str | None = None, port: int | None = None) -> str:
        """The JDBC URL, optionally through another address (a link proxy)."""
        return f"jdbc:{self.kind}://{host or self.host}:{port or self.port}/{self.name}"

    def connect(self, autocommit: bool = True) -> Any:
        """A driver connection as the database's user."""
        if self.kind == "postgresql":
            import psycopg

            return psycopg.connect(
                host=self.host,
                port=self.port,
                dbname=self.name,
                user=self.user,
                password=self.password,
                autocommit=autocommit,
                connect_timeout=5,
            )
        import pymysql

        return pymysql.connect(
            host=self.host,
            port=self.port,
            database=self.name,
            user=self.user,
            password=self.password,
            autocommit=autocommit,
            connect_timeout=5,
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return [tuple(row) for row in cur.fetchall()]
        finally:
            conn.close()


def connection_answers(conn: Any) -> bool:
    """True if a driver connection still runs a query (a killed session, or a dead server, does not)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchall()
        return True
    except Exception:
        return False


class DatabaseServer(Protocol):
    @property
    def kind(self) -> DatabaseKind: ...

    @property
    def host(self) -> str:
        """Where the harness reaches the server (a container's may change when it starts again)."""

    @property
    def port(self) -> int: ...

    @property
    def running(self) -> bool: ...

    def create_database(self) -> DatabaseRef: ...

    def stop_immediately(self) -> None: ...

    def start(self) -> None: ...

    def kill_sessions(self, database: DatabaseRef, client_ports: Collection[int] | None = None) -> int:
        """End the sessions on ``database`` from these client ports (all when None); return how many."""

    def reap(self) -> None: ...


def _run_as(user: pwd.struct_passwd | None) -> list[str]:
    return ["runuser", "-u", user.pw_name, "--"] if user is not None else []


def _service_user(name: str, kind: DatabaseKind) -> pwd.struct_passwd | None:
    """The database's system user when running as root (servers refuse to run as root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise DatabaseUnavailable(f"system user {name!r} is missing: {INSTALL_HINT[kind]}") from None


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            last = exc
        time.sleep(0.05)
    raise DatabaseUnavailable(f"timed out after {timeout:.0f} s waiting for {what}" + (f": {last}" if last else ""))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise DatabaseUnavailable(f"PostgreSQL server binaries not found: {INSTALL_HINT['postgresql']}")
    return Path(found[-1]).parent


def _workdir(prefix: str, owner: pwd.struct_passwd | None, parent: Path | None) -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    register_directory(root)  # removed by the run's watchdog if the run dies
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    return root


class PostgresServer:
    """initdb -A trust + pg_ctl start, in a temporary directory."""

    kind: DatabaseKind = "postgresql"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, workdir: Path | None = None) -> None:
        self.bin = _postgres_bin()
        self.user = _service_user("postgres", self.kind)
        self.host = host
        self.root = _workdir("amq-harness-pg-", self.user, workdir)
        self.data = self.root / "data"
        self.port = port or PortAllocator(host).allocate()
        self.pid: int | None = None
        self._names = itertools.count(1)
        try:
            self._as_owner(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            )
            self.start()
            self._admin(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        except BaseException:
            self.reap()
            raise

    def __repr__(self) -> str:
        return f"<postgresql {self.host}:{self.port} pid={self.pid}>"

    @property
    def running(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid)

    def _as_owner(self, *argv: str) -> None:
        result = subprocess.run(
            [*_run_as(self.user), *argv], capture_output=True, text=True, cwd=self.root, timeout=120
        )
        if result.returncode != 0:
            raise DatabaseUnavailable(
                f"{Path(argv[0]).name} {argv[-1]} failed ({result.returncode}): {result.stderr[-2000:]}"
                f"\nserver log: {self.root / 'server.log'}"
            )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.host} -c max_connections=60"
        self._as_owner(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        # pg_ctl daemonized it: it is no child of this process, so only the record can reap it.
        register_process(self.pid, f"postgresql :{self.port}")
        log.info("postgresql started on %s:%d (pid %d)", self.host, self.port, self.pid)

    def _admin(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, dbname="postgres", user="postgres", autocommit=True, connect_timeout=5
        ) as conn:
            cur = conn.execute(sql.encode(), params or None)
            return [tuple(row) for row in cur.fetchall()] if cur.description else []

    def create_database(self) -> DatabaseRef:
        name = f"activemq{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} OWNER {USER}")
        return DatabaseRef(self.kind, self.host, self.port, name)

    def kill_sessions(self, database: DatabaseRef, client_ports: Collection[int] | None = None) -> int:
        rows = self._admin("SELECT pid, client_port FROM pg_stat_activity WHERE datname = %s", database.name)
        victims = [pid for pid, port in rows if client_ports is None or port in client_ports]
        for pid in victims:
            self._admin("SELECT pg_terminate_backend(%s)", pid)
        return len(victims)

    def stop_immediately(self) -> None:
        if self.pid is None:
            return
        self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        pid = self.pid
        _wait(lambda: not _pid_alive(pid), 10, "the postmaster to exit")
        self.pid = None
        log.info("postgresql on port %d stopped (immediate)", self.port)

    def reap(self) -> None:
        with contextlib.suppress(Exception):
            if self.pid is not None and _pid_alive(self.pid):
                self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        if self.pid is not None and _pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)  # the postmaster this object started
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


class MariaDBServer:
    """mariadb-install-db + mariadbd (a child of this process), in a temporary directory."""

    kind: DatabaseKind = "mariadb"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, workdir: Path | None = None) -> None:
        for tool in ("mariadb-install-db", "mariadbd"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise DatabaseUnavailable(f"{tool} not found: {INSTALL_HINT['mariadb']}")
        self.user = _service_user("mysql", self.kind)
        self.host = host
        self.root = _workdir("amq-harness-mariadb-", self.user, workdir)
        self.data = self.root / "data"
        self.socket = self.root / "mysqld.sock"
        self.port = port or PortAllocator(host).allocate()
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        user_option = [f"--user={self.user.pw_name}"] if self.user is not None else []
        try:
            result = subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={self.data}",
                    *user_option,
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
                capture_output=True,
                text=True,
                timeout=180,
            )
            if result.returncode != 0:
                raise DatabaseUnavailable(f"mariadb-install-db failed ({result.returncode}): {result.stderr[-2000:]}")
            self.start()
            self._admin(
                f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'",
                f"CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'",
            )
        except BaseException:
            self.reap()
            raise

    def __repr__(self) -> str:
        return f"<mariadb {self.host}:{self.port} pid={self.proc.pid if self.proc else None}>"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        user_option = [f"--user={self.user.pw_name}"] if self.user is not None else []
        with open(self.root / "server.log", "ab") as server_log:
            self.proc = subprocess.Popen(
                [
                    mariadbd,
                    "--no-defaults",
                    f"--datadir={self.data}",
                    f"--port={self.port}",
                    f"--bind-address={self.host}",
                    f"--socket={self.socket}",
                    f"--pid-file={self.root / 'mysqld.pid'}",
                    *user_option,
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=32M",
                    "--max-connections=80",
                    "--skip-log-bin",
                ],
                stdout=server_log,
                stderr=server_log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C reaches the harness, which then stops it in order
            )
        register_process(self.proc.pid, f"mariadb :{self.port}")
        _wait(self._answers, 60, f"mariadbd on port {self.port}")
        log.info("mariadb started on %s:%d (pid %d)", self.host, self.port, self.proc.pid)

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise DatabaseUnavailable(f"mariadbd exited with {self.proc.returncode}; see {self.root / 'server.log'}")
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=1)
        conn.close()
        return True

    def _admin(self, *statements: str) -> list[tuple[Any, ...]]:
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True, connect_timeout=5)
        try:
            rows: list[tuple[Any, ...]] = []
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                    rows = [tuple(r) for r in cur.fetchall()]
            return rows
        finally:
            conn.close()

    def create_database(self) -> DatabaseRef:
        name = f"activemq{next(self._names)}"
        self._admin(
            f"CREATE DATABASE {name}",
            f"GRANT ALL ON {name}.* TO '{USER}'@'%'",
            f"GRANT ALL ON {name}.* TO '{USER}'@'localhost'",
        )
        return DatabaseRef(self.kind, self.host, self.port, name)

    def kill_sessions(self, database: DatabaseRef, client_ports: Collection[int] | None = None) -> int:
        rows = self._admin(f"SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE DB = '{database.name}'")
        victims = []
        for session_id, host in rows:
            port = int(host.rsplit(":", 1)[1]) if ":" in str(host) else None
            if client_ports is None or port in client_ports:
                victims.append(session_id)
        for session_id in victims:
            with contextlib.suppress(Exception):  # a session may end by itself meanwhile
                self._admin(f"KILL {int(session_id)}")
        return len(victims)

    def stop_immediately(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            log.info("mariadb on port %d killed (-9)", self.port)
        self.proc = None

    def reap(self) -> None:
        self.stop_immediately()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(kind: DatabaseKind, host: str = "127.0.0.1", workdir: Path | None = None) -> DatabaseServer:
    if kind == "postgresql":
        return PostgresServer(host, workdir=workdir)
    if kind == "mariadb":
        return MariaDBServer(host, workdir=workdir)
    raise ValueError(f"unknown database {kind!r} (known: {', '.join(DATABASE_KINDS)})")
