"""JDBC master/slave: the lifecycle of a node whose store is a database shared by all nodes.

  1. create the schema if missing (createTablesOnStartup), retrying while the database is down;
  2. slave mode: no connector open, ask the locker for the lock until it is granted;
  3. claim the next fencing epoch in the database, read the messages, open the connectors;
  4. serve until a stop is requested or the term ends:
     - lock lost (the keep-alive found another owner, the lease may have run out, a write found
       another epoch): step down to slave mode at once;
     - database failure (a write or the keep-alive failed): the connectors are closed and nothing
       more is confirmed, then the outage policy decides (see OutagePolicy): by default, wait until
       the database answers and re-check the lock; resume if it is still ours, else be a slave.

Every term re-reads the store: after a failure the in-memory state may hold messages whose
INSERT never committed (or acks whose DELETE did not), so it is dropped, never resumed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from harness.broker.config.activemq_xml import IOExceptionHandlerConfig, JdbcStoreConfig
from harness.broker.fence import Fence
from harness.broker.ha.db_lockers import DatabaseLocker, LeaseLocker, Locker, LockRowMissing, lease_renew_period_ms
from harness.broker.server import BrokerServer, StartupError
from harness.broker.store.contract import Fenced
from harness.broker.store.database import Database, DriverDatabase, close_quietly
from harness.broker.store.jdbc_schema import SchemaError, ensure_schema
from harness.broker.store.jdbc_statements import Statements
from harness.broker.store.jdbc_store import JDBC_STORE_LIMITS, ForeignRows, JdbcStore, open_term

T = TypeVar("T")
_STEP_DOWN_PAUSE = 0.1  # lets another node's takeover win before this one asks for the lock again
_SPURIOUS_WAKE_PAUSE = 0.1


class TermEnd(StrEnum):
    STOPPED = "stopped"  # SIGTERM/SIGINT
    LOCK_LOST = "lock lost"  # another node owns (or may own) the lock now
    OUTAGE = "database failure"  # the database failed under a write or a keep-alive


class OutagePolicy(StrEnum):
    """What a master does after a database failure ended its term.

    RESUME: re-check at once, then every ``outage_check_period_ms``, whether the database answers and
      this node still owns the lock (the keep-alive succeeds); if so start a new term, if the lock is
      gone go back to slave mode. With <leaseLockerIOExceptionHandler stopStartConnectors="true"> the
      period is resumeCheckSleepPeriod and ActiveMQ behaves the same, except that it stops the broker
      when the lock is gone. Without a handler (pybroker's default) the period is
      lockAcquireSleepInterval; ActiveMQ's default instead stops the broker, and the cluster does not
      come back by itself.
    STOP (stopStartConnectors="false"): stop the broker (exit status 1), like ActiveMQ.
    """

    RESUME = "resume"
    STOP = "stop"


def outage_policy(handler: IOExceptionHandlerConfig | None) -> OutagePolicy:
    if handler is None or handler.stop_start_connectors:
        return OutagePolicy.RESUME
    return OutagePolicy.STOP


def outage_check_period_ms(store: JdbcStoreConfig, handler: IOExceptionHandlerConfig | None) -> int:
    if handler is not None:
        return handler.resume_check_sleep_period_ms
    return store.locker.lock_acquire_sleep_interval_ms


def keep_alive_period_ms(store: JdbcStoreConfig) -> int:
    """How often the master checks its lock: lockKeepAlivePeriod (0: never) for the database locker;
    for a lease, often enough that it cannot lapse (see lease_renew_period_ms)."""
    if store.locker.kind == "lease-database-locker":
        return lease_renew_period_ms(store.lock_keep_alive_period_ms, store.locker.lock_acquire_sleep_interval_ms)
    return store.lock_keep_alive_period_ms


class LockFence(Fence):
    """The fence of a JDBC term: valid while the locker says the lock is ours (a local, cheap check).

    Writes are fenced in the database itself (the epoch check); this covers everything else a
    master confirms (CONNECTED, receipts without a write, deliveries).
    """

    def __init__(self, epoch: int, validity: Callable[[], str | None], on_deposed: Callable[[str], None]) -> None:
        super().__init__(epoch, lambda: epoch, on_deposed)
        self._validity = validity

    def problem(self) -> str | None:
        return self._validity()


class JdbcMasterSlave:
    def __init__(
        self,
        server: BrokerServer,
        store: JdbcStoreConfig,
        handler: IOExceptionHandlerConfig | None,
        db: Database | None = None,
    ) -> None:
        self.server = server
        self.log = server.log
        self.name = server.name
        self.store = store
        self.handler = handler
        self.policy = outage_policy(handler)
        self.outage_check_ms = outage_check_period_ms(store, handler)
        self.db: Database = db or DriverDatabase(store.data_source)
        self.statements = Statements(self.db.dialect)
        locker_config = store.locker
        self.locker: Locker
        if locker_config.kind == "lease-database-locker":
            self.locker = LeaseLocker(
                self.db,
                self.statements,
                locker_config.lease_holder_id or self.name,
                locker_config.lock_acquire_sleep_interval_ms,
                locker_config.max_allowable_diff_from_db_time_ms,
                log=self.log,
            )
        else:
            self.locker = DatabaseLocker(self.db, self.statements, locker_config.lock_acquire_sleep_interval_ms)
        self.keep_alive_ms = keep_alive_period_ms(store)
        # Every locker call runs in this one thread: the lock connection is used by one thread at a time.
        self._locker_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="jdbc-locker")
        self._check_lock = asyncio.Lock()
        self._term_end = TermEnd.STOPPED
        self._watched_fd: int | None = None
        self._socket_check: asyncio.Future[None] | None = None

    # -- the node's life ----------------------------------------------------------------------

    async def run(self) -> int:
        self._log_settings()
        exit_code = 0
        try:
            if await self._prepare_schema():
                exit_code = await self._master_slave_loop()
        finally:
            await self._locker_call(self.locker.release, quiet=True)
            await self._locker_call(self.locker.close, quiet=True)
            self._locker_thread.shutdown(wait=False)
        self.log.info("Broker %s stopped", self.name)
        return exit_code

    async def _master_slave_loop(self) -> int:
        owned = False
        while not self.server.stopping:
            if not owned and not await self._wait_for_lock():
                break
            owned = False
            try:
                end = await self._serve_one_term()
            except ForeignRows as exc:
                raise StartupError(str(exc)) from None
            if self.server.stopping:
                break
            if end is TermEnd.OUTAGE:
                if self.policy is OutagePolicy.STOP:
                    self.log.error(
                        "Stopping %s due to a database failure (leaseLockerIOExceptionHandler "
                        'stopStartConnectors="false")',
                        self.name,
                    )
                    return 1
                owned = await self._wait_to_resume()
            if not owned:
                await self._locker_call(self.locker.release, quiet=True)
                await self.server.wait_stop(_STEP_DOWN_PAUSE)
        return 0

    async def _prepare_schema(self) -> bool:
        """Create/check the schema, retrying while the database cannot be reached. False if stopped first."""
        interval = self.store.locker.lock_acquire_sleep_interval_ms
        reported: str | None = None
        while not self.server.stopping:
            try:
                await asyncio.to_thread(
                    ensure_schema, self.db, self.statements, self.store.create_tables_on_startup, self.log
                )
                if reported is not None:
                    self.log.info("Database %s reachable again", self.db.describe())
                return True
            except SchemaError as exc:
                raise StartupError(str(exc)) from None
            except Exception as exc:
                if not self.db.is_error(exc):
                    raise
                if str(exc) != reported:
                    reported = str(exc)
                    self.log.warning(
                        "Cannot reach the database %s to check the schema: %s; retrying every %d ms",
                        self.db.describe(),
                        _one_line(exc),
                        interval,
                    )
            await self.server.wait_stop(interval / 1000.0)
        return False

    # -- slave mode -----------------------------------------------------------------------------

    async def _wait_for_lock(self) -> bool:
        """Slave mode until the lock is ours (True) or a stop is requested (False)."""
        announced = False
        reported: str | None = None
        if isinstance(self.locker, LeaseLocker):
            self.log.info("%s attempting to acquire exclusive lease to become the master", self.locker.holder_id)
        else:
            self.log.info("Attempting to acquire the exclusive lock to become the Master broker")
        while not self.server.stopping:
            failed = False
            try:
                acquired = await self._interruptible(self.locker.try_acquire)
            except LockRowMissing as exc:
                acquired, failed = False, True
                if str(exc) != reported:
                    reported = str(exc)
                    self.log.error("%s", exc)
            except Exception as exc:
                if not self.db.is_error(exc):
                    raise
                acquired, failed = False, True
                if str(exc) != reported:
                    reported = str(exc)
                    self.log.warning(
                        "Failed to acquire lock: %s. Sleeping for %d milli(s) before trying again...",
                        _one_line(exc),
                        self.locker.acquire_sleep_interval_ms,
                    )
            if acquired is None:  # stop requested while the attempt ran
                return False
            if acquired:
                if reported is not None:
                    self.log.info("Database %s reachable again", self.db.describe())
                self.log.info("Becoming the master on dataSource: %s (%s)", self.db.describe(), self.locker.kind)
                return True
            if not failed:
                reported = None
                if not announced:
                    announced = True
                    self.server.role = "slave"
                    self.log.info(
                        "Database %s is locked by another server. "
                        "This broker is now in slave mode waiting a lock to be acquired",
                        self.db.describe(),
                    )
            await self.server.wait_stop(self.locker.retry_delay_ms(failed) / 1000.0)
        return False

    async def _wait_to_resume(self) -> bool:
        """RESUME policy: True once the database answers and the lock is still ours; False if it is not."""
        period = self.outage_check_ms
        self.log.info(
            "Connectors of %s stopped after a database failure; checking now and every %d ms whether the database "
            "answers and this broker still owns the lock",
            self.name,
            period,
        )
        reported: str | None = None
        delay = _STEP_DOWN_PAUSE  # ActiveMQ checks at once too
        while not await self.server.wait_stop(delay):
            delay = period / 1000.0
            try:
                owner = await self._locker_call(self.locker.keep_alive)
            except Exception as exc:
                if not self.db.is_error(exc):
                    raise
                if _one_line(exc) != reported:
                    reported = _one_line(exc)
                    self.log.info("Waiting for the database before restarting the connectors: %s", reported)
                continue
            if owner:
                self.log.info("The database is back and %s still owns the lock: restarting the connectors", self.name)
                return True
            self.log.warning(
                "lock keepAlive failed, no longer lock owner: %s goes back to slave mode%s",
                self.name,
                " (ActiveMQ would stop)" if self.handler is not None else "",
            )
            return False
        return False

    # -- master ---------------------------------------------------------------------------------

    async def _serve_one_term(self) -> TermEnd:
        started = time.monotonic()
        # Claiming the epoch can wait for an old master's transaction and recovery can take a while:
        # a lease must not run out meanwhile.
        renewing = asyncio.ensure_future(self._renew_while_starting())
        try:
            recovery, conn = await asyncio.to_thread(open_term, self.db, self.statements, self.name)
        except ForeignRows:
            raise
        except Exception as exc:
            if not self.db.is_error(exc):
                raise
            self.log.error("Cannot start a master term: the database failed: %s", _one_line(exc))
            return TermEnd.OUTAGE
        finally:
            renewing.cancel()
        problem = self.locker.validity_problem()
        if problem is not None:
            close_quietly(conn)
            self.log.warning("Lost the lock while starting a master term: %s", problem)
            return TermEnd.LOCK_LOST
        self.log.info(
            "Recovered %d messages from %s in %.0f ms (fencing epoch %d)%s",
            len(recovery.messages),
            self.db.describe(),
            (time.monotonic() - started) * 1000,
            recovery.epoch,
            f"; skipped {recovery.in_doubt} prepared XA row(s)" if recovery.in_doubt else "",
        )
        self._term_end = TermEnd.STOPPED
        deposed = asyncio.Event()
        fence = LockFence(recovery.epoch, self.locker.validity_problem, lambda reason: deposed.set())
        store = JdbcStore(self.db, self.statements, recovery, conn, fence.check, self._store_failed(fence))
        try:
            self._watch_lock_socket(fence)
            watchers = []
            if self.keep_alive_ms > 0:
                watchers.append(self._keep_alive_loop(fence))
            if isinstance(self.locker, LeaseLocker):
                watchers.append(self._lease_deadline_watch(fence))
            await self.server.serve_term(
                recovery.epoch,
                store,
                recovery.messages,
                fence,
                deposed,
                watchers,
                deposal_line=self._deposal_line,
                limits=JDBC_STORE_LIMITS,
            )
        finally:
            self._unwatch_lock_socket()
        if self.server.stopping:
            return TermEnd.STOPPED
        if fence.deposed and self._term_end is TermEnd.STOPPED:
            self._term_end = TermEnd.LOCK_LOST  # the local check failed (lease ran out, lock not held)
        return self._term_end

    def _deposal_line(self, reason: str) -> str:
        if self._term_end is TermEnd.OUTAGE:
            return (
                f"{self.name}: database failure, stopping the connectors and confirming nothing more "
                f"(outage policy: {self.policy.value}): {reason}"
            )
        return f"{self.name}, no longer able to keep the exclusive lock so giving up being a master: {reason}"

    def _store_failed(self, fence: Fence) -> Callable[[Exception], None]:
        def failed(exc: Exception) -> None:
            if isinstance(exc, Fenced):
                self._end(fence, TermEnd.LOCK_LOST, f"a write found another master: {_one_line(exc)}")
            else:
                self._end(fence, TermEnd.OUTAGE, _one_line(exc))

        return failed

    def _end(self, fence: Fence, kind: TermEnd, reason: str) -> None:
        if not fence.deposed:
            self._term_end = kind
            fence.depose(reason)

    async def _renew_while_starting(self) -> None:
        if not isinstance(self.locker, LeaseLocker):
            return  # the database lock lives as long as its connection
        while True:
            await asyncio.sleep(self.keep_alive_ms / 1000.0)
            try:
                if not await self._locker_call(self.locker.keep_alive):
                    return
            except Exception as exc:
                # The lease is valid only until its deadline: that is checked once the start is over.
                self.log.debug("Renewing the lease while starting a term failed: %s", _one_line(exc))
                return

    async def _keep_alive_loop(self, fence: Fence) -> None:
        period = self.keep_alive_ms / 1000.0
        while not fence.deposed:
            await asyncio.sleep(period)
            await self._check_lock_now(fence)

    async def _lease_deadline_watch(self, fence: Fence) -> None:
        """End the term when the lease may have run out, even if no client asks anything meanwhile."""
        while not fence.deposed:
            await asyncio.sleep(0.05)
            fence.check()

    async def _check_lock_now(self, fence: Fence) -> None:
        async with self._check_lock:
            if fence.deposed:
                return
            self._unwatch_lock_socket()
            try:
                owner = await self._locker_call(self.locker.keep_alive)
            except Exception as exc:
                if not self.db.is_error(exc):
                    raise
                self._end(fence, TermEnd.OUTAGE, f"the lock keep-alive failed: {_one_line(exc)}")
                return
            if not owner:
                self._end(fence, TermEnd.LOCK_LOST, f"the keep-alive found {self.locker.describe()} owned by another")
                return
            fence.check()
            if not fence.deposed:
                self._watch_lock_socket(fence)

    def _watch_lock_socket(self, fence: Fence) -> None:
        """Database locker: the server writes to the idle lock connection only when it ends it, so
        readable means check now (not a lockKeepAlivePeriod later)."""
        fd = self.locker.fileno()
        if fd is None or self._watched_fd is not None:
            return
        loop = asyncio.get_running_loop()

        def readable() -> None:
            self._unwatch_lock_socket()
            self._socket_check = asyncio.ensure_future(self._after_lock_socket_event(fence))

        try:
            loop.add_reader(fd, readable)
        except (OSError, ValueError) as exc:  # the connection closed under us: the keep-alive will tell
            self.log.debug("Cannot watch the lock connection: %s", exc)
            return
        self._watched_fd = fd

    async def _after_lock_socket_event(self, fence: Fence) -> None:
        await self._check_lock_now(fence)
        if not fence.deposed:
            self._unwatch_lock_socket()
            await asyncio.sleep(_SPURIOUS_WAKE_PAUSE)  # something else was on the socket: do not spin
            if not fence.deposed:
                self._watch_lock_socket(fence)

    def _unwatch_lock_socket(self) -> None:
        if self._watched_fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._watched_fd)
            self._watched_fd = None

    # -- helpers --------------------------------------------------------------------------------

    async def _locker_call(self, fn: Callable[[], T], quiet: bool = False) -> T | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._locker_thread, fn)
        except Exception as exc:
            if not quiet:
                raise
            self.log.debug("%s failed: %s", getattr(fn, "__name__", fn), exc)
            return None

    async def _interruptible(self, fn: Callable[[], bool]) -> bool | None:
        """Run a locker call; None if a stop was requested before it returned (it finishes in its thread)."""
        loop = asyncio.get_running_loop()
        call: asyncio.Future[bool] = loop.run_in_executor(self._locker_thread, fn)
        stop: asyncio.Future[bool] = asyncio.ensure_future(self._stopped_flag())
        try:
            await asyncio.wait([call, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not call.done():
            call.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
            return None
        return call.result()

    async def _stopped_flag(self) -> bool:
        await self.server.stopped()
        return True

    def _log_settings(self) -> None:
        locker = self.store.locker
        self.log.info(
            "JDBC store on %s: %s, lockAcquireSleepInterval %d ms, lockKeepAlivePeriod %d ms, "
            "createTablesOnStartup %s, outage policy %s (every %d ms)",
            self.db.describe(),
            locker.kind,
            locker.lock_acquire_sleep_interval_ms,
            self.store.lock_keep_alive_period_ms,
            str(self.store.create_tables_on_startup).lower(),
            self.policy.value,
            self.outage_check_ms,
        )
        if locker.kind == "lease-database-locker" and self.keep_alive_ms != self.store.lock_keep_alive_period_ms:
            self.log.warning(
                "lockKeepAlivePeriod %d ms would let the %d ms lease lapse between renewals (a slave would become "
                "master while this one serves); pybroker renews it every %d ms instead",
                self.store.lock_keep_alive_period_ms,
                locker.lock_acquire_sleep_interval_ms,
                self.keep_alive_ms,
            )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
