"""The JDBC store's SQL is ActiveMQ Classic's (activemq-jdbc-store Statements and adapters), word for word."""

from __future__ import annotations

import pytest

from harness.broker.store.database import Dialect
from harness.broker.store.jdbc_statements import Statements

PG = Statements(Dialect.POSTGRESQL)
MY = Statements(Dialect.MYSQL)


def activemq(sql: str) -> str:
    """ActiveMQ's statement with JDBC placeholders, as the drivers want them."""
    return sql.replace("?", "%s")


def test_postgresql_schema_is_activemqs() -> None:
    assert PG.create_schema == (
        "CREATE TABLE ACTIVEMQ_MSGS(ID BIGINT NOT NULL, CONTAINER VARCHAR(250), MSGID_PROD VARCHAR(250), "
        "MSGID_SEQ BIGINT, EXPIRATION BIGINT, MSG BYTEA, PRIMARY KEY ( ID ) )",
        "CREATE INDEX ACTIVEMQ_MSGS_MIDX ON ACTIVEMQ_MSGS (MSGID_PROD,MSGID_SEQ)",
        "CREATE INDEX ACTIVEMQ_MSGS_CIDX ON ACTIVEMQ_MSGS (CONTAINER)",
        "CREATE INDEX ACTIVEMQ_MSGS_EIDX ON ACTIVEMQ_MSGS (EXPIRATION)",
        "CREATE TABLE ACTIVEMQ_ACKS(CONTAINER VARCHAR(250) NOT NULL, SUB_DEST VARCHAR(250), CLIENT_ID VARCHAR(250) "
        "NOT NULL, SUB_NAME VARCHAR(250) NOT NULL, SELECTOR VARCHAR(250), LAST_ACKED_ID BIGINT, "
        "PRIMARY KEY ( CONTAINER, CLIENT_ID, SUB_NAME))",
        "ALTER TABLE ACTIVEMQ_MSGS ADD PRIORITY BIGINT",
        "CREATE INDEX ACTIVEMQ_MSGS_PIDX ON ACTIVEMQ_MSGS (PRIORITY)",
        "ALTER TABLE ACTIVEMQ_MSGS ADD XID VARCHAR(250)",
        "ALTER TABLE ACTIVEMQ_ACKS ADD PRIORITY BIGINT DEFAULT 5 NOT NULL",
        "ALTER TABLE ACTIVEMQ_ACKS ADD XID VARCHAR(250)",
        'ALTER TABLE ACTIVEMQ_ACKS DROP CONSTRAINT "activemq_acks_pkey"',
        "ALTER TABLE ACTIVEMQ_ACKS ADD PRIMARY KEY (CONTAINER, CLIENT_ID, SUB_NAME, PRIORITY)",
        "CREATE INDEX ACTIVEMQ_MSGS_XIDX ON ACTIVEMQ_MSGS (XID)",
        "CREATE INDEX ACTIVEMQ_ACKS_XIDX ON ACTIVEMQ_ACKS (XID)",
    )
    assert PG.create_lock_schema == (
        "CREATE TABLE ACTIVEMQ_LOCK( ID BIGINT NOT NULL, TIME BIGINT, BROKER_NAME VARCHAR(250), PRIMARY KEY (ID) )",
        "INSERT INTO ACTIVEMQ_LOCK(ID) VALUES (1)",
    )


def test_mysql_schema_uses_longblob_innodb_and_drop_primary_key() -> None:
    tables = [s for s in MY.create_schema + MY.create_lock_schema if s.startswith("CREATE TABLE")]
    assert len(tables) == 3
    assert all(s.endswith(" ENGINE=INNODB") for s in tables), "row locks and transactions need InnoDB"
    assert "MSG LONGBLOB" in MY.create_schema[0]
    assert "ALTER TABLE ACTIVEMQ_ACKS DROP PRIMARY KEY" in MY.create_schema
    # Everything else is the same as on PostgreSQL.
    strip = [s.replace(" ENGINE=INNODB", "").replace("LONGBLOB", "BYTEA") for s in MY.create_schema]
    pg = [s.replace('DROP CONSTRAINT "activemq_acks_pkey"', "DROP PRIMARY KEY") for s in PG.create_schema]
    assert strip == pg


@pytest.mark.parametrize("statements", [PG, MY], ids=["postgresql", "mysql"])
def test_message_and_locker_statements_are_activemqs(statements: Statements) -> None:
    assert statements.add_message == activemq(
        "INSERT INTO ACTIVEMQ_MSGS(ID, MSGID_PROD, MSGID_SEQ, CONTAINER, EXPIRATION, PRIORITY, MSG, XID) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    assert statements.remove_message == activemq("DELETE FROM ACTIVEMQ_MSGS WHERE ID=?")
    assert statements.lock_create == "SELECT * FROM ACTIVEMQ_LOCK WHERE ID = 1 FOR UPDATE"
    assert statements.lock_update == activemq("UPDATE ACTIVEMQ_LOCK SET TIME = ? WHERE ID = 1")
    assert statements.lease_obtain == activemq(
        "UPDATE ACTIVEMQ_LOCK SET BROKER_NAME=?, TIME=? WHERE (TIME IS NULL OR TIME < ?) AND ID = 1"
    )
    assert statements.lease_update == activemq(
        "UPDATE ACTIVEMQ_LOCK SET BROKER_NAME=?, TIME=? WHERE BROKER_NAME=? AND ID = 1"
    )
    assert statements.lease_owner == "SELECT BROKER_NAME, TIME FROM ACTIVEMQ_LOCK WHERE ID = 1"
    assert statements.current_date_time == "SELECT CURRENT_TIMESTAMP FROM ACTIVEMQ_LOCK"


def test_epoch_check_is_a_locking_read_in_each_dialect() -> None:
    assert PG.epoch_check == "SELECT TIME FROM ACTIVEMQ_LOCK WHERE ID = 2 FOR SHARE"
    assert MY.epoch_check == "SELECT TIME FROM ACTIVEMQ_LOCK WHERE ID = 2 LOCK IN SHARE MODE"
    for statements in (PG, MY):
        assert "ID = 1" not in statements.epoch_bump, "pybroker's epoch never touches ActiveMQ's lock row"
