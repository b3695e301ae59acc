"""Database access for the JDBC store: JDBC URLs, the two SQL dialects, connections and driver errors.

activemq.xml names a JDBC data source (a dbcp ``BasicDataSource`` bean with a driver class and a
``jdbc:`` URL). pybroker maps it to a Python driver: PostgreSQL through psycopg 3, MariaDB and MySQL
through PyMySQL. Drivers are imported only when a connection is made, so parsing a configuration
never needs them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
# Driver-side JDBC URL options that change nothing for pybroker's drivers.
IGNORED_URL_OPTIONS = frozenset({"relaxAutoCommit"})
CONNECT_TIMEOUT_S = 5


class Dialect(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"  # MariaDB and MySQL


class JdbcUrlError(ValueError):
    """A JDBC URL pybroker cannot use; the message says why."""


@dataclass(frozen=True)
class JdbcUrl:
    dialect: Dialect
    scheme: str  # postgresql, mariadb or mysql, as written
    host: str
    port: int
    database: str
    ignored_options: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.database}"


def parse_jdbc_url(url: str) -> JdbcUrl:
    """``jdbc:postgresql://host[:port]/db``, ``jdbc:mariadb://...`` or ``jdbc:mysql://...``."""
    if not url.startswith("jdbc:"):
        raise JdbcUrlError(f"{url!r} is not a JDBC URL (expected jdbc:postgresql://, jdbc:mariadb:// or jdbc:mysql://)")
    parts = urlsplit(url[len("jdbc:") :])
    scheme = parts.scheme.lower()
    dialect = {"postgresql": Dialect.POSTGRESQL, "mariadb": Dialect.MYSQL, "mysql": Dialect.MYSQL}.get(scheme)
    if dialect is None:
        raise JdbcUrlError(
            f"{url!r}: database {scheme or '(none)'!r} is not supported by pybroker (supported: postgresql, mariadb, "
            "mysql)"
        )
    try:
        port = parts.port or DEFAULT_PORTS[dialect]
    except ValueError as exc:
        raise JdbcUrlError(f"{url!r}: {exc}") from None
    if not parts.hostname:
        raise JdbcUrlError(f"{url!r} names no host (one host only: failover and load-balancing URLs are not supported)")
    if "," in parts.netloc:
        raise JdbcUrlError(f"{url!r}: several hosts are not supported by pybroker")
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise JdbcUrlError(f"{url!r} names no database (expected jdbc:{scheme}://host:port/database)")
    ignored = []
    for key, _value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in IGNORED_URL_OPTIONS:
            raise JdbcUrlError(f"{url!r}: URL option {key!r} is not supported by pybroker")
        ignored.append(key)
    return JdbcUrl(dialect, scheme, parts.hostname, port, database, tuple(ignored))


# Driver classes that ActiveMQ's users put in the data source bean, by dialect.
DRIVER_CLASSES = {
    "org.postgresql.Driver": Dialect.POSTGRESQL,
    "org.mariadb.jdbc.Driver": Dialect.MYSQL,
    "com.mysql.jdbc.Driver": Dialect.MYSQL,
    "com.mysql.cj.jdbc.Driver": Dialect.MYSQL,
}


@dataclass(frozen=True)
class JdbcDataSource:
    """What pybroker takes from the data source bean."""

    bean_id: str
    url: JdbcUrl
    username: str
    password: str = field(repr=False)

    def describe(self) -> str:
        return f"{self.url.describe()} as {self.username or '(no user)'}"


# -- DB-API shapes (what pybroker uses of psycopg and PyMySQL; tests provide fakes) ----------------


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, query: str, params: Sequence[Any] | None = None) -> Any: ...

    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]]) -> Any: ...

    def fetchone(self) -> Sequence[Any] | None: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...

    def close(self) -> None: ...


class Connection(Protocol):
    def cursor(self) -> Cursor: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class Database(Protocol):
    """Opens connections to one data source and knows its driver's errors."""

    dialect: Dialect

    def describe(self) -> str: ...

    def connect(
        self, autocommit: bool, lock_wait_ms: int | None = None, idle_in_transaction_ms: int | None = None
    ) -> Connection:
        """``lock_wait_ms``: how long a statement waits for a row lock (None: the server's default).
        ``idle_in_transaction_ms``: after how long the server ends the session when its client stops
        in the middle of a transaction (0: never; None: the server's default)."""
        ...

    def is_error(self, exc: BaseException) -> bool: ...

    def is_lock_timeout(self, exc: BaseException) -> bool: ...

    def fileno(self, conn: Connection) -> int | None: ...


def timestamp_ms(value: Any) -> int:
    """A CURRENT_TIMESTAMP value as milliseconds since the epoch (naive values are UTC: see connect)."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"CURRENT_TIMESTAMP returned {value!r}, not a timestamp")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


class DriverDatabase:
    """The real thing: psycopg for PostgreSQL, PyMySQL for MariaDB/MySQL."""

    def __init__(self, source: JdbcDataSource) -> None:
        self.source = source
        self.dialect = source.url.dialect
        module = "psycopg" if self.dialect is Dialect.POSTGRESQL else "pymysql"
        try:
            self._driver: Any = importlib.import_module(module)
        except ImportError:
            raise RuntimeError(
                f"the Python driver {module!r} for {source.url.scheme} is not installed: pip install psycopg PyMySQL "
                "(both are dependencies of amq-harness)"
            ) from None

    def describe(self) -> str:
        return self.source.describe()

    def connect(
        self, autocommit: bool, lock_wait_ms: int | None = None, idle_in_transaction_ms: int | None = None
    ) -> Connection:
        url = self.source.url
        if self.dialect is Dialect.POSTGRESQL:
            settings = []
            if lock_wait_ms:
                settings.append(f"-c lock_timeout={lock_wait_ms}")
            if idle_in_transaction_ms is not None:
                settings.append(f"-c idle_in_transaction_session_timeout={idle_in_transaction_ms}")
            conn: Any = self._driver.connect(
                host=url.host,
                port=url.port,
                dbname=url.database,
                user=self.source.username,
                password=self.source.password,
                connect_timeout=CONNECT_TIMEOUT_S,
                autocommit=autocommit,
                options=" ".join(settings),
            )
            return conn
        conn = self._driver.connect(
            host=url.host,
            port=url.port,
            database=url.database,
            user=self.source.username,
            password=self.source.password,
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=autocommit,
            # CURRENT_TIMESTAMP comes back without a zone: make it UTC (see timestamp_ms).
            init_command="SET time_zone = '+00:00'",
        )
        try:
            with conn.cursor() as cur:
                # Both count in whole seconds.
                if lock_wait_ms:
                    cur.execute(f"SET SESSION innodb_lock_wait_timeout = {_seconds(lock_wait_ms)}")
                if idle_in_transaction_ms is not None:
                    seconds = _seconds(idle_in_transaction_ms) if idle_in_transaction_ms else 0
                    with contextlib.suppress(self._driver.Error):  # MySQL has no such setting (MariaDB 10.3+ has)
                        cur.execute(f"SET SESSION idle_transaction_timeout = {seconds}")
        except BaseException:
            close_quietly(conn)
            raise
        return conn

    def is_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._driver.Error)

    def is_lock_timeout(self, exc: BaseException) -> bool:
        if self.dialect is Dialect.POSTGRESQL:
            return isinstance(exc, self._driver.errors.LockNotAvailable)
        # ER_LOCK_WAIT_TIMEOUT
        return isinstance(exc, self._driver.err.OperationalError) and bool(exc.args) and exc.args[0] == 1205

    def fileno(self, conn: Connection) -> int | None:
        try:
            if self.dialect is Dialect.POSTGRESQL:
                return int(conn.fileno())  # type: ignore[attr-defined]
            sock = getattr(conn, "_sock", None)  # PyMySQL exposes its socket only as _sock
            return None if sock is None else int(sock.fileno())
        except Exception:
            return None


def _seconds(ms: int) -> int:
    return max(1, -(-ms // 1000))


def close_quietly(conn: Connection | None) -> None:
    """Close a connection that may already be broken."""
    if conn is None:
        return
    with contextlib.suppress(Exception):
        conn.close()
