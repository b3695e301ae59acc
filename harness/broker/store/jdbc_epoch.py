"""The fencing epoch of a JDBC store, kept in the database (ACTIVEMQ_LOCK row ID=2).

A node that has just become lock owner claims the next epoch before it reads any message; every
write transaction of a master starts with ``check_epoch`` and is rolled back when the epoch is not
its own. See jdbc_statements for why the row locks make this exact: no write of an old master can
commit after the new master claimed its epoch, and every write committed before is seen by it.
"""

from __future__ import annotations

import contextlib

from harness.broker.store.database import Connection, Cursor, Database
from harness.broker.store.jdbc_statements import EPOCH_OWNER_PREFIX, Statements


class EpochMismatch(Exception):
    """The database's epoch is not this master's: another master took over."""


def claim_next_epoch(db: Database, conn: Connection, statements: Statements, broker_name: str) -> int:
    """Increment the epoch in one transaction (creating the row if missing) and return it."""
    owner = EPOCH_OWNER_PREFIX + broker_name
    for _attempt in range(3):
        cur = conn.cursor()
        try:
            cur.execute(statements.epoch_bump, (owner,))
            if cur.rowcount == 1:
                cur.execute(statements.epoch_read)
                row = cur.fetchone()
                conn.commit()
                if row is None or row[0] is None:
                    raise RuntimeError("the epoch row ACTIVEMQ_LOCK ID=2 vanished while claiming it")
                return int(row[0])
            # A database whose tables were created by ActiveMQ has no epoch row yet.
            try:
                cur.execute(statements.epoch_seed, (owner,))
                conn.commit()
            except Exception as exc:
                conn.rollback()
                if not db.is_error(exc):
                    raise
                # Another node seeded it first (duplicate key): bump it now.
        except BaseException:
            _rollback_quietly(conn)
            raise
        finally:
            cur.close()
    raise RuntimeError("could not create the epoch row ACTIVEMQ_LOCK ID=2")


def check_epoch(cur: Cursor, statements: Statements, epoch: int) -> None:
    """Share-lock the epoch row inside the caller's transaction; raise EpochMismatch unless it is ``epoch``."""
    cur.execute(statements.epoch_check)
    row = cur.fetchone()
    current = None if row is None or row[0] is None else int(row[0])
    if current != epoch:
        raise EpochMismatch(f"the database's fencing epoch is {current}, this master holds epoch {epoch}")


def _rollback_quietly(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.rollback()
