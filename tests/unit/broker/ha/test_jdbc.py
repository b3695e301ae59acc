"""The JDBC master/slave lifecycle on a fake database: terms, lock loss, and the database outage policies."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

import pytest

from harness.broker.config.activemq_xml import (
    BrokerConfig,
    ConnectorConfig,
    IOExceptionHandlerConfig,
    JdbcLockerConfig,
    JdbcStoreConfig,
)
from harness.broker.ha import master_slave_for
from harness.broker.ha.jdbc import (
    JdbcMasterSlave,
    LockFence,
    OutagePolicy,
    keep_alive_period_ms,
    outage_check_period_ms,
    outage_policy,
)
from harness.broker.server import BrokerServer
from harness.broker.store.database import Dialect, JdbcDataSource, JdbcUrl

from ..fake_db import FakeDatabase

SOURCE = JdbcDataSource("ds", JdbcUrl(Dialect.POSTGRESQL, "postgresql", "127.0.0.1", 5432, "activemq"), "u", "p")


def store_config(locker: str = "database-locker", interval: int = 50, keep_alive: int = 40) -> JdbcStoreConfig:
    kind = "lease-database-locker" if locker == "lease-database-locker" else "database-locker"
    return JdbcStoreConfig(SOURCE, True, keep_alive, JdbcLockerConfig(kind, interval))


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


def node(
    db: FakeDatabase, store: JdbcStoreConfig, handler: IOExceptionHandlerConfig | None = None
) -> tuple[BrokerServer, JdbcMasterSlave, Records]:
    log = logging.getLogger(f"test-jdbc-{id(db)}")
    log.setLevel(logging.DEBUG)
    records = Records()
    log.addHandler(records)
    config = BrokerConfig(
        "amq1", (ConnectorConfig("stomp", "stomp", "127.0.0.1", 0),), store, io_exception_handler=handler
    )
    server = BrokerServer(config, log, master_slave_for)
    return server, JdbcMasterSlave(server, store, handler, db=db), records


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def scenario(body: Callable[[asyncio.Task[int]], Awaitable[None]], node_: JdbcMasterSlave) -> int:
    async def main() -> int:
        task = asyncio.ensure_future(node_.run())
        try:
            await body(task)
        finally:
            node_.server.request_stop()
        return await asyncio.wait_for(task, 10)

    return asyncio.run(main())


def test_policies_and_keep_alive_periods() -> None:
    assert outage_policy(None) is OutagePolicy.RESUME
    assert outage_policy(IOExceptionHandlerConfig(True, 100)) is OutagePolicy.RESUME
    assert outage_policy(IOExceptionHandlerConfig(False, 100)) is OutagePolicy.STOP
    assert outage_check_period_ms(store_config(interval=700), None) == 700, "default: lockAcquireSleepInterval"
    assert outage_check_period_ms(store_config(interval=700), IOExceptionHandlerConfig(True, 100)) == 100
    assert keep_alive_period_ms(store_config("database-locker", 1000, 0)) == 0
    assert keep_alive_period_ms(store_config("lease-database-locker", 1000, 0)) == 333
    assert keep_alive_period_ms(store_config("lease-database-locker", 10_000, 30_000)) == 3333


def test_lock_fence_follows_the_locker() -> None:
    problem: list[str | None] = [None]
    reasons: list[str] = []
    fence = LockFence(7, lambda: problem[0], reasons.append)
    assert fence.check()
    problem[0] = "the lease may have expired"
    assert not fence.check()
    problem[0] = None
    assert not fence.check(), "a deposed term stays deposed"
    assert reasons == ["the lease may have expired"]


def test_database_locker_outage_then_slave_then_master_again() -> None:
    """Default policy: wait for the database and re-check the lock; the row lock died with the
    connection, so the node competes for it again like a slave."""
    db = FakeDatabase()
    server, jdbc, records = node(db, store_config())

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        assert db.lock_rows[2][0] == 1
        db.go_down()
        await until(lambda: server.role == "slave", "the term to end")
        assert records.count("database failure, stopping the connectors and confirming nothing more") == 1
        assert records.count("outage policy: resume") == 1
        # A slave while the database is down, through at least one failed attempt at the lock (a fixed
        # sleep here raced the retry on a loaded machine).
        await until(lambda: records.count("Failed to acquire lock") >= 1, "an attempt at the lock to fail")
        assert server.role == "slave", "no master while the database is down"
        db.down = False
        await until(lambda: server.role == "master", "a new term once the database is back")
        assert db.lock_rows[2][0] == 2, "a new term claims a new epoch"

    assert scenario(body, jdbc) == 0
    assert records.count("no longer lock owner") == 1


def test_killed_sessions_do_not_move_a_lease() -> None:
    """The lease is a row, not a session: when the server ends the master's idle sessions, the next
    renewal reconnects and the master serves on in the same term."""
    db = FakeDatabase()
    server, jdbc, records = node(db, store_config("lease-database-locker", interval=5000, keep_alive=40))

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        renewals = len([sql for _, sql, _ in db.executed if sql == db.sql.lease_update])
        for conn in db.connections:
            conn.broken = True
        await until(
            lambda: len([sql for _, sql, _ in db.executed if sql == db.sql.lease_update]) >= renewals + 3,
            "renewals on a new connection",
        )
        assert server.role == "master"
        assert db.lock_rows[1][1] == "amq1"
        assert db.lock_rows[2][0] == 1, "still the first term"

    assert scenario(body, jdbc) == 0
    assert records.count("database failure") == 0


def test_outage_then_resume_when_the_lease_is_still_ours() -> None:
    """Default policy with a lease: the database fails under the master and comes back before the
    lease could be taken; the master finds it still its own and starts a new term."""
    db = FakeDatabase()
    server, jdbc, records = node(db, store_config("lease-database-locker", interval=300, keep_alive=40))

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        db.go_down()
        await until(lambda: server.role == "slave", "the connectors to stop")
        db.down = False
        await until(lambda: db.lock_rows[2][0] == 2, "a new term")
        await until(lambda: server.role == "master", "serving again")
        assert db.lock_rows[1][1] == "amq1"

    assert scenario(body, jdbc) == 0
    assert records.count("still owns the lock: restarting the connectors") == 1


def test_resume_policy_keeps_the_lease_and_starts_a_new_term() -> None:
    db = FakeDatabase()
    server, jdbc, records = node(
        db, store_config("lease-database-locker", interval=5000, keep_alive=40), IOExceptionHandlerConfig(True, 30)
    )

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        db.go_down()
        await until(lambda: server.role == "slave", "the connectors to stop")
        await until(lambda: records.count("Waiting for the database before restarting") >= 1, "resume checks")
        db.down = False
        await until(lambda: server.role == "master", "the resumed term")
        assert records.count("still owns the lock: restarting the connectors") == 1
        assert db.lock_rows[1][1] == "amq1"
        assert db.lock_rows[2][0] == 2

    assert scenario(body, jdbc) == 0


def test_resume_policy_goes_back_to_slave_when_the_lease_was_taken() -> None:
    db = FakeDatabase()
    server, jdbc, records = node(
        db, store_config("lease-database-locker", interval=5000, keep_alive=40), IOExceptionHandlerConfig(True, 30)
    )

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        db.go_down()
        await until(lambda: server.role == "slave", "the connectors to stop")
        db.lock_rows[1] = [db.lock_rows[1][0], "amq2"]  # another node won the lease meanwhile
        db.down = False
        await until(lambda: records.count("no longer lock owner") == 1, "the ownership check")
        await asyncio.sleep(0.1)
        assert server.role == "slave"

    assert scenario(body, jdbc) == 0


def test_stop_policy_stops_the_broker() -> None:
    db = FakeDatabase()
    server, jdbc, records = node(db, store_config(), IOExceptionHandlerConfig(False, 100))

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        db.go_down()
        await asyncio.wait_for(asyncio.shield(task), 5)

    assert scenario(body, jdbc) == 1
    assert records.count('stopStartConnectors="false"') == 1


def test_lost_lease_steps_down_at_once() -> None:
    db = FakeDatabase()
    server, jdbc, records = node(db, store_config("lease-database-locker", interval=5000, keep_alive=40))

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        db.lock_rows[1] = [db.lock_rows[1][0], "amq2"]
        await until(lambda: server.role == "slave", "the step-down")
        assert records.count("no longer able to keep the exclusive lock so giving up being a master") == 1

    assert scenario(body, jdbc) == 0


@pytest.mark.parametrize("locker", ["database-locker", "lease-database-locker"])
def test_graceful_stop_releases_the_lock(locker: str) -> None:
    db = FakeDatabase()
    server, jdbc, records = node(db, store_config(locker))

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")

    assert scenario(body, jdbc) == 0
    assert db.row_lock_holder is None
    if locker == "lease-database-locker":
        assert db.lock_rows[1] == [0, None]
    assert records.count("Broker amq1 stopped") == 1


def test_database_locker_notices_a_killed_lock_session_without_waiting_for_the_keep_alive() -> None:
    """The database ends the lock connection (pg_terminate_backend, a restart): its socket becomes
    readable and the master checks at once, although lockKeepAlivePeriod is 0 (never)."""
    db = FakeDatabase()
    server_end, client_end = socket.socketpair()
    db.socket_fds[2] = client_end.fileno()  # connection 1 checks the schema, connection 2 takes the lock
    server, jdbc, records = node(db, store_config("database-locker", interval=50, keep_alive=0))

    async def body(task: asyncio.Task[int]) -> None:
        await until(lambda: server.role == "master", "the first term")
        lock_conn = db.row_lock_holder
        assert lock_conn is not None and lock_conn.number == 2
        lock_conn.broken = True  # the session is killed: its transaction and row lock are gone
        db.row_lock_holder = None
        server_end.sendall(b"E FATAL: terminating connection due to administrator command")
        await until(lambda: db.lock_rows[2][0] == 2, "a new term after the lock connection died", timeout=3)
        assert records.count("the lock keep-alive failed") == 1

    try:
        assert scenario(body, jdbc) == 0
    finally:
        server_end.close()
        client_end.close()
