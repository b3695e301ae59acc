"""The database locker and the lease locker: statements, decisions, lease arithmetic, without a database."""

from __future__ import annotations

import pytest

from harness.broker.ha.db_lockers import (
    DatabaseLocker,
    LeaseLocker,
    LockRowMissing,
    lease_renew_period_ms,
    lease_safety_margin_ms,
)
from harness.broker.store.jdbc_statements import Statements

from ..fake_db import FakeClock, FakeDatabase, FakeDbError


def database_locker(db: FakeDatabase, interval: int = 1000) -> DatabaseLocker:
    return DatabaseLocker(db, Statements(db.dialect), interval, FakeClock(), wait_slice_ms=250)


def lease_locker(db: FakeDatabase, name: str, clock: FakeClock, lease: int = 1000, max_diff: int = 0) -> LeaseLocker:
    return LeaseLocker(db, Statements(db.dialect), name, lease, max_diff, clock)


# -- database locker ------------------------------------------------------------------------------


def test_database_locker_holds_the_row_lock_in_an_open_transaction() -> None:
    db = FakeDatabase()
    locker = database_locker(db)
    assert locker.try_acquire()
    [conn] = db.connections
    assert conn.autocommit is False, "the lock lives in a transaction: autocommit must be off"
    assert conn.lock_wait_ms == 250, "a slave's wait for the row lock is bounded so that it can see a stop"
    assert conn.idle_in_transaction_ms == 0, "no server-side idle-in-transaction timeout may end the lock"
    assert db.statements_of(conn.number) == ["SELECT * FROM ACTIVEMQ_LOCK WHERE ID = 1 FOR UPDATE"]
    assert conn.commits == 0
    assert db.row_lock_holder is conn
    assert locker.validity_problem() is None


def test_second_database_locker_waits_until_the_first_connection_ends() -> None:
    db = FakeDatabase()
    master, slave = database_locker(db), database_locker(db)
    assert master.try_acquire()
    assert not slave.try_acquire(), "the row is locked by the master's transaction"
    assert slave.retry_delay_ms(failed=False) == 0, "after a wait slice the slave asks again at once"
    assert not slave.held
    master.release()  # the master's connection ends (a kill -9 ends it the same way)
    assert slave.try_acquire()


def test_database_locker_keep_alive_updates_time_on_the_lock_connection() -> None:
    db = FakeDatabase()
    locker = database_locker(db)
    assert locker.try_acquire()
    locker.clock.advance(500)  # type: ignore[attr-defined]
    assert locker.keep_alive()
    number, sql, params = db.executed[-1]
    assert number == db.connections[0].number
    assert sql == "UPDATE ACTIVEMQ_LOCK SET TIME = %s WHERE ID = 1"
    assert params == (1_000_500,)


def test_database_locker_keep_alive_failure_means_the_lock_is_gone() -> None:
    db = FakeDatabase()
    locker = database_locker(db)
    assert locker.try_acquire()
    db.go_down()
    with pytest.raises(FakeDbError):
        locker.keep_alive()
    assert not locker.held
    assert locker.validity_problem() == "the database lock is not held"
    assert locker.keep_alive() is False, "once lost, a keep-alive never brings the lock back"


def test_database_locker_connection_failure_is_retried_after_the_sleep_interval() -> None:
    db = FakeDatabase(down=True)
    locker = database_locker(db, interval=700)
    with pytest.raises(FakeDbError):
        locker.try_acquire()
    assert locker.retry_delay_ms(failed=True) == 700
    db.down = False
    assert locker.try_acquire()


def test_missing_lock_row_is_an_error_not_a_lock() -> None:
    db = FakeDatabase(lock_rows={})
    with pytest.raises(LockRowMissing, match=r"ACTIVEMQ_LOCK has no row with ID = 1"):
        database_locker(db).try_acquire()


def test_database_locker_exposes_the_lock_connection_socket_only_while_held() -> None:
    db = FakeDatabase(socket_fds={1: 77})
    locker = database_locker(db)
    assert locker.fileno() is None
    locker.try_acquire()
    assert locker.fileno() == 77
    locker.release()
    assert locker.fileno() is None


# -- lease locker ---------------------------------------------------------------------------------


def test_lease_is_obtained_with_activemqs_statement_and_parameters() -> None:
    db = FakeDatabase()
    clock = FakeClock(wall=5_000)
    locker = lease_locker(db, "amq1", clock, lease=2000)
    assert locker.try_acquire()
    _, sql, params = db.executed[-1]
    assert sql == "UPDATE ACTIVEMQ_LOCK SET BROKER_NAME=%s, TIME=%s WHERE (TIME IS NULL OR TIME < %s) AND ID = 1"
    assert params == ("amq1", 7_000, 5_000)
    assert db.lock_rows[1] == [7_000, "amq1"]
    assert db.connections[0].autocommit, "the lease row must be committed to count"


def test_unexpired_lease_is_not_taken_and_the_slave_sleeps_until_it_expires() -> None:
    db = FakeDatabase()
    clock = FakeClock(wall=5_000)
    master = lease_locker(db, "amq1", clock, lease=2000)
    slave = lease_locker(db, "amq2", clock, lease=2000)
    assert master.try_acquire()
    clock.advance(500)
    assert not slave.try_acquire()
    assert slave.last_owner is not None and slave.last_owner.broker_name == "amq1"
    assert slave.retry_delay_ms(failed=False) == 1510, "until just after the lease's end (7000 - 5500 + 10)"
    assert slave.retry_delay_ms(failed=True) == 2000, "after an error: the sleep interval"
    clock.advance(1501)
    assert slave.try_acquire()
    assert db.lock_rows[1][1] == "amq2"


def test_renewal_keeps_the_lease_and_fails_once_another_holds_it() -> None:
    db = FakeDatabase()
    clock = FakeClock(wall=5_000)
    master = lease_locker(db, "amq1", clock, lease=1000)
    assert master.try_acquire()
    clock.advance(300)
    assert master.keep_alive()
    _, sql, params = db.executed[-1]
    assert sql == "UPDATE ACTIVEMQ_LOCK SET BROKER_NAME=%s, TIME=%s WHERE BROKER_NAME=%s AND ID = 1"
    assert params == ("amq1", 6_300, "amq1")
    db.lock_rows[1] = [9_999, "amq2"]  # another node took it
    assert master.keep_alive() is False
    assert master.validity_problem() == "the lease is not held"


def test_master_stops_trusting_its_lease_before_it_expires() -> None:
    db = FakeDatabase()
    clock = FakeClock()
    locker = lease_locker(db, "amq1", clock, lease=1000)
    assert locker.try_acquire()
    margin = lease_safety_margin_ms(1000)
    assert margin == 100
    clock.advance(1000 - margin - 1)
    assert locker.validity_problem() is None
    clock.advance(1)
    problem = locker.validity_problem()
    assert problem is not None and "the lease may have expired" in problem
    # ... while a slave can take it only once the database time passed TIME (1000 ms after the UPDATE).
    slave = lease_locker(db, "amq2", clock, lease=1000)
    assert not slave.try_acquire()


def test_validity_counts_from_before_the_renewal_was_sent() -> None:
    db = FakeDatabase()
    clock = FakeClock()
    locker = lease_locker(db, "amq1", clock, lease=1000)
    slow = db.sql.lease_update

    def slow_renewal(sql: str, params: tuple[object, ...]) -> None:
        if sql == slow:
            clock.advance(400)  # the UPDATE took 400 ms to come back
        return None

    assert locker.try_acquire()
    db.fail_when = slow_renewal
    assert locker.keep_alive()
    clock.advance(1000 - 100 - 400 - 1)
    assert locker.validity_problem() is None
    clock.advance(1)
    assert locker.validity_problem() is not None


def test_paused_master_resumes_deposed() -> None:
    """A SIGSTOP longer than the lease: the first check after resuming fails, before any renewal."""
    db = FakeDatabase()
    clock = FakeClock()
    locker = lease_locker(db, "amq1", clock, lease=1000)
    assert locker.try_acquire()
    clock.advance(5000)
    assert locker.validity_problem() is not None


def test_renewal_error_leaves_the_lease_valid_only_until_its_deadline() -> None:
    db = FakeDatabase()
    clock = FakeClock()
    locker = lease_locker(db, "amq1", clock, lease=1000)
    assert locker.try_acquire()
    db.go_down()
    with pytest.raises(FakeDbError):
        locker.keep_alive()
    assert locker.held, "a failed renewal is not an answer: the lease may still be ours"
    assert locker.validity_problem() is None
    clock.advance(900)
    assert locker.validity_problem() is not None


def test_renewal_on_a_killed_session_reconnects_once() -> None:
    db = FakeDatabase()
    locker = lease_locker(db, "amq1", FakeClock())
    assert locker.try_acquire()
    db.connections[0].broken = True  # the server ended the idle session
    assert locker.keep_alive()
    assert len(db.connections) == 2
    db.go_down()
    with pytest.raises(FakeDbError):
        locker.keep_alive()  # the new connection fails too: the database is down, the caller hears of it
    assert locker.held, "an error is no answer: the lease stays ours until its deadline"


def test_release_clears_the_lease_like_activemq() -> None:
    db = FakeDatabase()
    locker = lease_locker(db, "amq1", FakeClock())
    assert locker.try_acquire()
    locker.release()
    _, sql, params = db.executed[-1]
    assert sql == db.sql.lease_update
    assert params == (None, 0, "amq1")
    assert db.lock_rows[1] == [0, None]


@pytest.mark.parametrize(
    ("db_time", "max_diff", "expected_diff"),
    [
        (1_000_000 + 5_000, 1_000, 5_000),  # database 5 s ahead, more than allowed: adopt its clock
        (1_000_000 - 3_000, 1_000, -3_000),
        (1_000_000 + 500, 1_000, 0),  # within the allowance: no correction
        (1_000_000 + 5_000, 0, 0),  # 0 = off: the database time is not even read
    ],
)
def test_clock_offset_correction_against_the_database(db_time: int, max_diff: int, expected_diff: int) -> None:
    db = FakeDatabase(db_time_ms=db_time)
    clock = FakeClock(wall=1_000_000)
    locker = lease_locker(db, "amq1", clock, lease=1000, max_diff=max_diff)
    assert locker.try_acquire()
    assert locker.diff_from_current_time_ms == expected_diff
    read_time = [sql for _, sql, _ in db.executed if sql == "SELECT CURRENT_TIMESTAMP FROM ACTIVEMQ_LOCK"]
    assert bool(read_time) == (max_diff > 0)
    assert db.lock_rows[1][0] == 1_000_000 + expected_diff + 1000, "TIME is written in database time"


def test_clock_offset_is_read_once() -> None:
    db = FakeDatabase(db_time_ms=1_010_000)
    locker = lease_locker(db, "amq1", FakeClock(wall=1_000_000), max_diff=100)
    assert locker.try_acquire()
    assert locker.keep_alive()
    reads = [sql for _, sql, _ in db.executed if sql.startswith("SELECT CURRENT_TIMESTAMP")]
    assert len(reads) == 1


@pytest.mark.parametrize(
    ("keep_alive", "lease", "expected"),
    [
        (300, 1000, 300),  # safe: as configured
        (500, 1000, 500),
        (30_000, 10_000, 3_333),  # ActiveMQ's JDBC defaults: the lease would lapse between renewals
        (600, 1000, 333),
        (0, 10_000, 3_333),  # ActiveMQ would never renew
    ],
)
def test_lease_renewal_period_never_lets_the_lease_lapse(keep_alive: int, lease: int, expected: int) -> None:
    assert lease_renew_period_ms(keep_alive, lease) == expected
