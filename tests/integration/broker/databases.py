"""Throwaway PostgreSQL and MariaDB servers for the JDBC store's integration tests.

Each server runs from a fresh data directory on a free loopback port, as the database's own system
user (``postgres``, ``mysql``); the test process keeps its PID and reaps it, whatever happens. A
server hands out empty databases (one per test) owned by the user ``activemq``/``activemq`` that
the brokers' activemq.xml names. ``stop_immediately`` and ``start`` are the outage fault: for
PostgreSQL ``pg_ctl stop -m immediate`` (no checkpoint, crash recovery on start), for MariaDB kill -9.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from broker_procs import free_port

USER = "activemq"
PASSWORD = "activemq"


@dataclass(frozen=True)
class DatabaseRef:
    """One database on one server, as the broker's data source bean describes it."""

    kind: str  # "postgresql" | "mariadb"
    port: int
    name: str

    @property
    def driver_class(self) -> str:
        return "org.postgresql.Driver" if self.kind == "postgresql" else "org.mariadb.jdbc.Driver"

    @property
    def url(self) -> str:
        return f"jdbc:{self.kind}://127.0.0.1:{self.port}/{self.name}"

    def connect(self, autocommit: bool = True) -> Any:
        """A driver connection as the activemq user."""
        if self.kind == "postgresql":
            import psycopg

            return psycopg.connect(
                host="127.0.0.1", port=self.port, dbname=self.name, user=USER, password=PASSWORD, autocommit=autocommit
            )
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=self.port, database=self.name, user=USER, password=PASSWORD, autocommit=autocommit
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return [tuple(row) for row in cur.fetchall()]
        finally:
            conn.close()


class DatabaseServer(Protocol):
    kind: str
    port: int

    def create_database(self) -> DatabaseRef: ...

    def stop_immediately(self) -> None: ...

    def start(self) -> None: ...

    def reap(self) -> None: ...


def _system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"system user {name!r} is missing: install the database server package") from None


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}" + (f": {last}" if last else ""))


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
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install -y postgresql")
    return Path(found[-1]).parent


class PostgresServer:
    """initdb -A trust + pg_ctl start, as the postgres user, in a temporary directory."""

    kind = "postgresql"

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.user = _system_user("postgres")
        self.root = Path(tempfile.mkdtemp(prefix="pybroker-pg-"))
        os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.data = self.root / "data"
        self.port = free_port()
        self.pid: int | None = None
        self._names = itertools.count(1)
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        self.start()
        self._admin(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")

    def _as_postgres(self, *argv: str) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, cwd=self.root, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=50"
        self._as_postgres(
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

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, dbname="postgres", user="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self) -> DatabaseRef:
        name = f"activemq{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} OWNER {USER}")
        return DatabaseRef(self.kind, self.port, name)

    def stop_immediately(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        if self.pid is not None:
            _wait(lambda: not _pid_alive(self.pid or 0), 10, "the postmaster to exit")
        self.pid = None

    def reap(self) -> None:
        with contextlib.suppress(Exception):
            if self.pid is not None and _pid_alive(self.pid):
                self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        if self.pid is not None and _pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)  # the postmaster this fixture started
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


class MariaDBServer:
    """mariadb-install-db + mariadbd (a child of the test process), as the mysql user."""

    kind = "mariadb"

    def __init__(self) -> None:
        for tool in ("mariadb-install-db", "mariadbd"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise RuntimeError(f"{tool} not found: apt-get install -y mariadb-server")
        self.user = _system_user("mysql")
        self.root = Path(tempfile.mkdtemp(prefix="pybroker-mariadb-"))
        os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.data = self.root / "data"
        self.socket = self.root / "mysqld.sock"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        result = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.data}",
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed ({result.returncode}): {result.stderr[-2000:]}")
        self.start()
        self._admin(
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'",
            f"CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'",
        )

    def start(self) -> None:
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the child keeps it open
        self.proc = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={self.data}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                "--user=mysql",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--max-connections=60",
                "--skip-log-bin",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        _wait(self._answers, 60, f"mariadbd on port {self.port}")

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {self.proc.returncode}; see {self.root / 'server.log'}")
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=1)
        conn.close()
        return True

    def _admin(self, *statements: str) -> None:
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
        finally:
            conn.close()

    def create_database(self) -> DatabaseRef:
        name = f"activemq{next(self._names)}"
        self._admin(
            f"CREATE DATABASE {name}",
            f"GRANT ALL ON {name}.* TO '{USER}'@'%'",
            f"GRANT ALL ON {name}.* TO '{USER}'@'localhost'",
        )
        return DatabaseRef(self.kind, self.port, name)

    def stop_immediately(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def reap(self) -> None:
        self.stop_immediately()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(kind: str) -> DatabaseServer:
    return PostgresServer() if kind == "postgresql" else MariaDBServer()
