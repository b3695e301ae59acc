"""Create ActiveMQ's JDBC schema when it is missing (createTablesOnStartup) and check that it is usable.

Like ActiveMQ, the create statements run one by one and a failing one is skipped (the table, index
or key exists already, or another node created it at the same moment); unlike ActiveMQ, the result
is then checked, so a schema pybroker cannot use is reported at startup, naming what is missing.
"""

from __future__ import annotations

import logging

from harness.broker.store.database import Connection, Database, close_quietly
from harness.broker.store.jdbc_statements import ACKS, LOCK, MESSAGES, Statements


class SchemaError(Exception):
    """The database has no usable ActiveMQ schema; the message says what is missing and what to do."""


def ensure_schema(db: Database, statements: Statements, create: bool, log: logging.Logger) -> None:
    """Blocking. Raises SchemaError, or the driver's error when the database cannot be reached."""
    conn = db.connect(autocommit=True)
    try:
        missing = _missing_tables(db, conn, statements)
        if missing and create:
            log.info("Creating the JDBC schema (%s) in %s", ", ".join(missing), db.describe())
            if MESSAGES in missing or ACKS in missing:
                _run_all(db, conn, statements.create_schema, log)
            if LOCK in missing:
                _run_all(db, conn, statements.create_lock_schema, log)
            missing = _missing_tables(db, conn, statements)
        if missing:
            hint = (
                'set createTablesOnStartup="true" or create them with ActiveMQ\'s schema'
                if not create
                else "they could not be created: check the user's privileges in the database log"
            )
            raise SchemaError(f"{db.describe()}: table(s) {', '.join(missing)} missing or incomplete; {hint}")
        if not _has_lock_row(conn, statements):
            if not create:
                raise SchemaError(
                    f"{db.describe()}: {LOCK} has no row with ID = 1, so no broker can hold the lock; "
                    f"insert it: INSERT INTO {LOCK}(ID) VALUES (1)"
                )
            _run_all(db, conn, (statements.seed_lock_row,), log)
            if not _has_lock_row(conn, statements):
                raise SchemaError(f"{db.describe()}: could not insert the lock row ID = 1 into {LOCK}")
    finally:
        close_quietly(conn)


def _missing_tables(db: Database, conn: Connection, statements: Statements) -> list[str]:
    missing = []
    for table, probe in (
        (MESSAGES, statements.probe_messages),
        (ACKS, statements.probe_acks),
        (LOCK, statements.probe_lock),
    ):
        cur = conn.cursor()
        try:
            cur.execute(probe)
            cur.fetchall()
        except Exception as exc:
            if not db.is_error(exc) or _is_connection_problem(conn):
                raise
            missing.append(table)
        finally:
            cur.close()
    return missing


def _has_lock_row(conn: Connection, statements: Statements) -> bool:
    cur = conn.cursor()
    try:
        cur.execute(statements.probe_lock)
        return cur.fetchone() is not None
    finally:
        cur.close()


def _run_all(db: Database, conn: Connection, sql: tuple[str, ...], log: logging.Logger) -> None:
    for statement in sql:
        cur = conn.cursor()
        try:
            cur.execute(statement)
        except Exception as exc:
            if not db.is_error(exc) or _is_connection_problem(conn):
                raise
            log.debug("Schema statement skipped (%s): %s", exc, statement)
        finally:
            cur.close()


def _is_connection_problem(conn: Connection) -> bool:
    """Whether the connection itself broke (psycopg: .broken/.closed; PyMySQL: .open is False)."""
    if getattr(conn, "broken", False) or getattr(conn, "closed", False) is True:
        return True
    return getattr(conn, "open", True) is False
