"""An in-memory database that understands exactly the statements pybroker's JDBC store sends.

It keeps ACTIVEMQ_LOCK and ACTIVEMQ_MSGS rows, row locks taken by ``SELECT ... FOR UPDATE``
(another connection's attempt raises the lock-wait timeout), transactions (undo on rollback or
close) and a log of every statement, and can be taken down or made to fail one statement.
Anything it does not know raises, so a changed statement cannot go unnoticed.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.broker.store.database import Dialect
from harness.broker.store.jdbc_statements import Statements


class FakeDbError(Exception):
    """Stands for the driver's errors (psycopg.Error, pymysql.Error)."""


class FakeLockTimeout(FakeDbError):
    pass


@dataclass
class FakeClock:
    wall: int = 1_000_000
    mono: float = 100.0

    def wall_ms(self) -> int:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, ms: int) -> None:
        self.wall += ms
        self.mono += ms / 1000.0


@dataclass
class FakeDatabase:
    dialect: Dialect = Dialect.POSTGRESQL
    lock_rows: dict[int, list[Any]] = field(default_factory=lambda: {1: [None, None]})  # ID -> [TIME, BROKER_NAME]
    messages: dict[int, tuple[Any, ...]] = field(
        default_factory=dict
    )  # ID -> (PROD, SEQ, CONTAINER, EXP, PRIO, MSG, XID)
    tables: set[str] = field(default_factory=lambda: {"ACTIVEMQ_MSGS", "ACTIVEMQ_ACKS", "ACTIVEMQ_LOCK"})
    db_time_ms: int = 1_000_000
    down: bool = False
    executed: list[tuple[int, str, tuple[Any, ...]]] = field(default_factory=list)
    connections: list[FakeConnection] = field(default_factory=list)
    fail_when: Callable[[str, tuple[Any, ...]], Exception | None] | None = None
    row_lock_holder: FakeConnection | None = None
    socket_fds: dict[int, int] = field(default_factory=dict)  # connection number -> a real fd to hand out
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.sql = Statements(self.dialect)

    # -- the Database protocol --------------------------------------------------------------------

    def describe(self) -> str:
        return "fake://db"

    def connect(
        self, autocommit: bool, lock_wait_ms: int | None = None, idle_in_transaction_ms: int | None = None
    ) -> FakeConnection:
        if self.down:
            raise FakeDbError("connection refused")
        conn = FakeConnection(self, next(self._ids), autocommit, lock_wait_ms)
        conn.idle_in_transaction_ms = idle_in_transaction_ms
        self.connections.append(conn)
        return conn

    def is_error(self, exc: BaseException) -> bool:
        return isinstance(exc, FakeDbError)

    def is_lock_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, FakeLockTimeout)

    def fileno(self, conn: Any) -> int | None:
        return self.socket_fds.get(conn.number) if self.socket_fds else None

    # -- helpers for tests ----------------------------------------------------------------------

    def statements_of(self, conn_number: int) -> list[str]:
        return [sql for number, sql, _ in self.executed if number == conn_number]

    def go_down(self) -> None:
        self.down = True
        for conn in self.connections:
            conn.broken = True
        self.row_lock_holder = None


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.rowcount = -1
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, query: str, params: Sequence[Any] | None = None) -> None:
        self._rows, self.rowcount = self.conn.run(query, tuple(params or ()))

    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]]) -> None:
        total = 0
        for params in params_seq:
            self.execute(query, params)
            total += self.rowcount
        self.rowcount = total

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, db: FakeDatabase, number: int, autocommit: bool, lock_wait_ms: int | None) -> None:
        self.db = db
        self.number = number
        self.autocommit = autocommit
        self.lock_wait_ms = lock_wait_ms
        self.idle_in_transaction_ms: int | None = None
        self.broken = False
        self.closed = False
        self.commits = 0
        self._undo: list[Callable[[], None]] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def commit(self) -> None:
        self._check()
        self.commits += 1
        self._end()

    def rollback(self) -> None:
        self._check()
        for undo in reversed(self._undo):
            undo()
        self._end()

    def close(self) -> None:
        if not self.closed and not self.broken:
            for undo in reversed(self._undo):
                undo()
        self._end()
        self.closed = True

    def _end(self) -> None:
        self._undo.clear()
        if self.db.row_lock_holder is self:
            self.db.row_lock_holder = None

    def _check(self) -> None:
        if self.closed or self.broken or self.db.down:
            raise FakeDbError("connection lost")

    def run(self, sql: str, params: tuple[Any, ...]) -> tuple[list[tuple[Any, ...]], int]:
        self._check()
        self.db.executed.append((self.number, sql, params))
        if self.db.fail_when is not None:
            exc = self.db.fail_when(sql, params)
            if exc is not None:
                raise exc
        result = self._interpret(sql, params)
        if self.autocommit:
            self._undo.clear()
        return result

    def _set(self, table: dict[int, Any], key: int, value: Any) -> None:
        old = table.get(key)
        existed = key in table
        table[key] = value

        def undo() -> None:
            if existed:
                table[key] = old
            else:
                table.pop(key, None)

        self._undo.append(undo)

    def _delete(self, table: dict[int, Any], key: int) -> int:
        if key not in table:
            return 0
        old = table.pop(key)
        self._undo.append(lambda: table.__setitem__(key, old))
        return 1

    def _interpret(self, sql: str, p: tuple[Any, ...]) -> tuple[list[tuple[Any, ...]], int]:
        db, s, lock = self.db, self.db.sql, self.db.lock_rows
        if sql == s.lock_create:
            if db.row_lock_holder is not None and db.row_lock_holder is not self:
                raise FakeLockTimeout("lock wait timeout")
            if 1 not in lock:
                return [], 0
            db.row_lock_holder = self
            return [(1, *lock[1])], 1
        if sql == s.lock_update:
            if 1 not in lock:
                return [], 0
            self._set(lock, 1, [p[0], lock[1][1]])
            return [], 1
        if sql == s.lease_obtain:
            name, until, now = p
            row = lock.get(1)
            if row is None or not (row[0] is None or row[0] < now):
                return [], 0
            self._set(lock, 1, [until, name])
            return [], 1
        if sql == s.lease_update:
            name, until, holder = p
            row = lock.get(1)
            if row is None or row[1] != holder:
                return [], 0
            self._set(lock, 1, [until, name])
            return [], 1
        if sql == s.lease_owner:
            row = lock.get(1)
            return ([(row[1], row[0])] if row else []), 1
        if sql == s.current_date_time:
            stamp = dt.datetime.fromtimestamp(db.db_time_ms / 1000, dt.UTC)
            return [(stamp,) for _ in lock], len(lock)
        if sql == s.epoch_bump:
            if 2 not in lock:
                return [], 0
            self._set(lock, 2, [(lock[2][0] or 0) + 1, p[0]])
            return [], 1
        if sql in (s.epoch_read, s.epoch_check):
            return ([(lock[2][0],)] if 2 in lock else []), 1
        if sql == s.epoch_seed:
            if 2 in lock:
                raise FakeDbError("duplicate key value violates unique constraint")
            self._set(lock, 2, [0, p[0]])
            return [], 1
        if sql == s.add_message:
            row_id = p[0]
            if row_id in db.messages:
                raise FakeDbError(f"duplicate key ID={row_id}")
            self._set(db.messages, row_id, p[1:])
            return [], 1
        if sql == s.remove_message:
            return [], self._delete(db.messages, p[0])
        if sql == s.find_all_messages:
            return [(i, r[2], r[6], r[5]) for i, r in sorted(db.messages.items())], len(db.messages)
        if sql == s.last_message_id:
            return [(max(db.messages) if db.messages else None,)], 1
        if sql == s.last_acked_id:
            return [(None,)], 1
        for table, probe in (("ACTIVEMQ_MSGS", s.probe_messages), ("ACTIVEMQ_ACKS", s.probe_acks)):
            if sql == probe:
                if table not in db.tables:
                    raise FakeDbError(f'relation "{table.lower()}" does not exist')
                return [], 0
        if sql == s.probe_lock:
            if "ACTIVEMQ_LOCK" not in db.tables:
                raise FakeDbError('relation "activemq_lock" does not exist')
            return ([(1, *lock[1])] if 1 in lock else []), 1
        if sql.startswith("CREATE TABLE "):
            name = sql.split()[2].split("(")[0]
            if name in db.tables:
                raise FakeDbError(f'relation "{name}" already exists')
            db.tables.add(name)
            if name == "ACTIVEMQ_LOCK":
                lock.clear()
            return [], 0
        if sql == s.seed_lock_row:
            if 1 in lock:
                raise FakeDbError("duplicate key")
            lock[1] = [None, None]
            return [], 1
        if sql.startswith(("CREATE INDEX ", "ALTER TABLE ")):
            return [], 0
        raise AssertionError(f"the fake database does not know this statement: {sql!r}")
