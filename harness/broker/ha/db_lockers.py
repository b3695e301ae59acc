"""The two database lockers of a JDBC store: ActiveMQ's database-locker and lease-database-locker.

Both are blocking (the master lifecycle runs them in one worker thread) and take the database and
a clock as parameters, so their decisions can be tested without a database.

database-locker (DefaultDatabaseLocker): ``SELECT * FROM ACTIVEMQ_LOCK WHERE ID = 1 FOR UPDATE`` on
a connection with autocommit off that stays in its transaction for the whole master term; the row
lock is the mastership and dies with the connection. The keep-alive ``UPDATE ACTIVEMQ_LOCK SET
TIME = ? WHERE ID = 1`` runs on that connection. A slave waits in the same SELECT; pybroker gives
it a lock wait timeout of ``wait_slice_ms`` and asks again at once when it expires (ActiveMQ blocks
without a limit, or sleeps lockAcquireSleepInterval after a failure), so a stop request is seen
within that slice and takeover happens as soon as the database ends the dead master's transaction.
Failures other than the wait timeout (database down) are retried every lockAcquireSleepInterval.

lease-database-locker (LeaseDatabaseLocker): the lease is the row ID=1 naming this broker with an
expiry TIME in the future (database clock, see maxAllowableDiffFromDBTime); it is taken with
``UPDATE ... SET BROKER_NAME=?, TIME=? WHERE (TIME IS NULL OR TIME < ?) AND ID = 1`` and renewed
with ``UPDATE ... WHERE BROKER_NAME=? AND ID = 1``; its length is lockAcquireSleepInterval.
Where ActiveMQ lets the lease lapse (lockKeepAlivePeriod 0 or longer than the lease: a slave takes
over while the master still serves), pybroker (1) renews at least three times per lease and (2)
stops confirming anything once its own lease may have run out: ``validity_problem`` compares the
monotonic clock with the moment of the last successful renewal (taken BEFORE the UPDATE was sent)
plus the lease minus a safety margin, so a master paused for longer than the lease is deposed the
moment it resumes, before it writes a byte.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from harness.broker.store.database import Connection, Database, close_quietly, timestamp_ms
from harness.broker.store.jdbc_statements import Statements

T = TypeVar("T")
DEFAULT_WAIT_SLICE_MS = 1000
_MIN_RETRY_MS = 10


class Clock(Protocol):
    def wall_ms(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def wall_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()


class LockRowMissing(Exception):
    """ACTIVEMQ_LOCK has no row ID = 1: locking it would lock nothing."""


class DatabaseLocker:
    kind = "database-locker"

    def __init__(
        self,
        db: Database,
        statements: Statements,
        acquire_sleep_interval_ms: int,
        clock: Clock | None = None,
        wait_slice_ms: int = DEFAULT_WAIT_SLICE_MS,
    ) -> None:
        self.db = db
        self.statements = statements
        self.acquire_sleep_interval_ms = acquire_sleep_interval_ms
        self.clock = clock or SystemClock()
        self.wait_slice_ms = wait_slice_ms
        self._conn: Connection | None = None
        self.held = False

    def describe(self) -> str:
        return f"the database lock (ACTIVEMQ_LOCK ID = 1) in {self.db.describe()}"

    def try_acquire(self) -> bool:
        """One attempt: True once the row lock is ours; False when another node held it for a whole wait slice.

        Raises the driver's error when the database cannot be used (the caller sleeps and retries).
        """
        if self.held:
            return True
        if self._conn is None:
            # The lock lives in a transaction that stays idle as long as this node is master: a server-wide
            # idle-in-transaction timeout must not end it.
            self._conn = self.db.connect(autocommit=False, lock_wait_ms=self.wait_slice_ms, idle_in_transaction_ms=0)
        conn = self._conn
        cur = conn.cursor()
        try:
            cur.execute(self.statements.lock_create)
            rows = cur.fetchall()
        except Exception as exc:
            if self.db.is_lock_timeout(exc):
                self._rollback_or_drop()
                return False
            self._drop()
            raise
        finally:
            cur.close()
        if not rows:
            self._rollback_or_drop()
            raise LockRowMissing(
                f"{self.db.describe()}: ACTIVEMQ_LOCK has no row with ID = 1, so there is nothing to lock; "
                'insert it (INSERT INTO ACTIVEMQ_LOCK(ID) VALUES (1)) or set createTablesOnStartup="true"'
            )
        self.held = True
        return True

    def retry_delay_ms(self, failed: bool) -> int:
        """How long to wait before the next attempt: none after a wait slice, the sleep interval after a failure."""
        return self.acquire_sleep_interval_ms if failed else 0

    def keep_alive(self) -> bool:
        """The keep-alive UPDATE on the lock connection: True while the lock is ours.

        Raises the driver's error when the lock connection failed: its transaction, and with it
        the lock, is gone.
        """
        if not self.held or self._conn is None:
            return False
        cur = self._conn.cursor()
        try:
            cur.execute(self.statements.lock_update, (self.clock.wall_ms(),))
            updated = cur.rowcount == 1
        except BaseException:
            self.held = False
            self._drop()
            raise
        finally:
            cur.close()
        if not updated:
            self.held = False
        return updated

    def validity_problem(self) -> str | None:
        return None if self.held else "the database lock is not held"

    def fileno(self) -> int | None:
        """The lock connection's socket: the database writes to it only when it ends the connection."""
        return None if self._conn is None or not self.held else self.db.fileno(self._conn)

    def release(self) -> None:
        """End the lock transaction (ActiveMQ: rollback and close)."""
        self.held = False
        self._drop()

    def close(self) -> None:
        self.release()

    def _rollback_or_drop(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rollback()
        except Exception:
            self._drop()

    def _drop(self) -> None:
        close_quietly(self._conn)
        self._conn = None


@dataclass(frozen=True)
class LeaseOwner:
    broker_name: str | None
    until_ms: int | None


def lease_renew_period_ms(lock_keep_alive_period_ms: int, lease_ms: int) -> int:
    """How often pybroker renews a lease: as configured, but at least three times per lease when the
    configured period would let it lapse (0, or more than half the lease)."""
    if 0 < lock_keep_alive_period_ms <= lease_ms // 2:
        return lock_keep_alive_period_ms
    return max(1, lease_ms // 3)


def lease_safety_margin_ms(lease_ms: int) -> int:
    """How much earlier than the lease's end a master stops confirming (clock rate differences, scheduling)."""
    return max(1, min(lease_ms // 10, 1000))


class LeaseLocker:
    kind = "lease-database-locker"

    def __init__(
        self,
        db: Database,
        statements: Statements,
        holder_id: str,
        lease_ms: int,
        max_allowable_diff_from_db_time_ms: int,
        clock: Clock | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.db = db
        self.statements = statements
        self.holder_id = holder_id
        self.lease_ms = lease_ms
        self.acquire_sleep_interval_ms = lease_ms
        self.max_allowable_diff_ms = max_allowable_diff_from_db_time_ms
        self.clock = clock or SystemClock()
        self.log = log or logging.getLogger("pybroker")
        self.margin_ms = lease_safety_margin_ms(lease_ms)
        self.diff_from_current_time_ms: int | None = None  # ActiveMQ's diffFromCurrentTime, once known
        self._conn: Connection | None = None
        self.held = False
        self._valid_until: float = 0.0  # monotonic
        self._renewed_at: float = 0.0
        self.last_owner: LeaseOwner | None = None

    def describe(self) -> str:
        return f"the lease (ACTIVEMQ_LOCK ID = 1) in {self.db.describe()}"

    # -- acquiring --------------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """One attempt to take an expired (or released) lease. Raises the driver's error on failure."""
        if self.held:
            return True
        obtained, started = self._with_connection(self._obtain)
        if obtained:
            self.held = True
            self._granted(started)
        return obtained

    def _obtain(self, conn: Connection) -> tuple[bool, float]:
        diff = self._time_diff(conn)
        started = self.clock.monotonic()
        now = self.clock.wall_ms() + diff
        cur = conn.cursor()
        try:
            cur.execute(self.statements.lease_obtain, (self.holder_id, now + self.lease_ms, now))
            obtained = cur.rowcount == 1
            if not obtained:
                cur.execute(self.statements.lease_owner)
                row = cur.fetchone()
                self.last_owner = LeaseOwner(
                    None if row is None or row[0] is None else str(row[0]),
                    None if row is None or row[1] is None else int(row[1]),
                )
        finally:
            cur.close()
        return obtained, started

    def retry_delay_ms(self, failed: bool) -> int:
        """After a failure: the sleep interval. After finding the lease taken: until just after it
        expires (by the database's clock), but never longer than the sleep interval."""
        owner = self.last_owner
        if failed or owner is None or owner.until_ms is None or self.diff_from_current_time_ms is None:
            return self.acquire_sleep_interval_ms
        now = self.clock.wall_ms() + self.diff_from_current_time_ms
        return max(_MIN_RETRY_MS, min(self.acquire_sleep_interval_ms, owner.until_ms - now + _MIN_RETRY_MS))

    # -- holding --------------------------------------------------------------------------------

    def keep_alive(self) -> bool:
        """Renew the lease: True while it is ours (BROKER_NAME still names this holder).

        Raises the driver's error when the database cannot be reached; the lease is then still
        ours only until ``validity_problem`` says otherwise.
        """
        if not self.held:
            return False
        renewed, started = self._with_connection(self._renew)
        if renewed:
            self._granted(started)
        else:
            self.held = False
        return renewed

    def _renew(self, conn: Connection) -> tuple[bool, float]:
        diff = self._time_diff(conn)
        started = self.clock.monotonic()
        now = self.clock.wall_ms() + diff
        cur = conn.cursor()
        try:
            cur.execute(self.statements.lease_update, (self.holder_id, now + self.lease_ms, self.holder_id))
            return cur.rowcount == 1, started
        finally:
            cur.close()

    def validity_problem(self) -> str | None:
        if not self.held:
            return "the lease is not held"
        now = self.clock.monotonic()
        if now >= self._valid_until:
            return (
                f"the lease may have expired: last renewed {(now - self._renewed_at) * 1000:.0f} ms ago, "
                f"lease {self.lease_ms} ms (minus a {self.margin_ms} ms safety margin)"
            )
        return None

    def fileno(self) -> int | None:
        return None

    def release(self) -> None:
        """Give the lease up (ActiveMQ: BROKER_NAME=NULL, TIME=0 where it is still ours)."""
        was_held, self.held = self.held, False
        if not was_held:
            return
        try:
            conn = self._connection()
            cur = conn.cursor()
            try:
                cur.execute(self.statements.lease_update, (None, 0, self.holder_id))
            finally:
                cur.close()
        except Exception as exc:
            self.log.warning("%s failed to release the lease: %s", self.holder_id, exc)
            self._drop()

    def close(self) -> None:
        self._drop()

    # -- internals ------------------------------------------------------------------------------

    def _granted(self, started: float) -> None:
        self._renewed_at = started
        self._valid_until = started + (self.lease_ms - self.margin_ms) / 1000.0

    def _with_connection(self, statement: Callable[[Connection], T]) -> T:
        """Run one autocommit statement; if the connection kept from before was dead (the server ended the
        session, or restarted), try once more on a new one: a failed single statement changed nothing."""
        reused = self._conn is not None
        try:
            return statement(self._connection())
        except BaseException as exc:
            self._drop()
            if not reused or not self.db.is_error(exc):
                raise
        try:
            return statement(self._connection())
        except BaseException:
            self._drop()
            raise

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.db.connect(autocommit=True)
        return self._conn

    def _drop(self) -> None:
        close_quietly(self._conn)
        self._conn = None

    def _time_diff(self, conn: Connection) -> int:
        """ActiveMQ's initTimeDiff: 0, or (when maxAllowableDiffFromDBTime > 0 and the local clock is
        further than that from the database's) the correction to add to the local clock. Once."""
        if self.diff_from_current_time_ms is not None:
            return self.diff_from_current_time_ms
        diff = 0
        if self.max_allowable_diff_ms > 0:
            cur = conn.cursor()
            try:
                cur.execute(self.statements.current_date_time)
                row = cur.fetchone()
            finally:
                cur.close()
            if row is None:
                raise LockRowMissing(f"{self.db.describe()}: ACTIVEMQ_LOCK is empty; cannot read the database time")
            offset = self.clock.wall_ms() - timestamp_ms(row[0])
            if abs(offset) > self.max_allowable_diff_ms:
                diff = -offset
            self.log.info("%s diff adjust from db: %d ms (local - db clock: %d ms)", self.holder_id, diff, offset)
        self.diff_from_current_time_ms = diff
        return diff


Locker = DatabaseLocker | LeaseLocker
