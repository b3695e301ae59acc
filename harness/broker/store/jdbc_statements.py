"""The SQL of the JDBC store: ActiveMQ Classic's statements, word for word, plus pybroker's fencing epoch.

ActiveMQ's ``Statements`` (activemq-jdbc-store) with its PostgreSQL adapter (BYTEA, dropping the
ACKS primary key by constraint name) and its MySQL/MariaDB adapter (LONGBLOB, InnoDB tables) define
the schema; the create statements are replayed in ActiveMQ's order so that both vendors create the
same tables, indexes and lock row. JDBC's ``?`` placeholders become the drivers' ``%s``.

pybroker adds one row, ``ACTIVEMQ_LOCK`` ID=2, whose TIME column holds the fencing epoch: a new
master increments it (an exclusive row lock) before reading the messages, and every write
transaction share-locks it and checks it first. Both drivers read the latest committed row in a
locking read, so a write that passed the check committed before the next master read anything,
and a write that comes later sees the new epoch and rolls back. ActiveMQ only ever touches ID=1.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.broker.store.database import Dialect

MESSAGES = "ACTIVEMQ_MSGS"
ACKS = "ACTIVEMQ_ACKS"
LOCK = "ACTIVEMQ_LOCK"
LOCK_ROW = 1
EPOCH_ROW = 2
EPOCH_OWNER_PREFIX = "pybroker epoch: "

_CONTAINER_TYPE = "VARCHAR(250)"
_MSGID_TYPE = "VARCHAR(250)"
_SEQUENCE_TYPE = "BIGINT"
_LONG_TYPE = "BIGINT"
_STRING_ID_TYPE = "VARCHAR(250)"


@dataclass(frozen=True)
class Statements:
    dialect: Dialect

    @property
    def binary_type(self) -> str:
        return "BYTEA" if self.dialect is Dialect.POSTGRESQL else "LONGBLOB"

    @property
    def drop_ack_primary_key(self) -> str:
        if self.dialect is Dialect.POSTGRESQL:
            return 'DROP CONSTRAINT "activemq_acks_pkey"'
        return "DROP PRIMARY KEY"

    def _table(self, statement: str) -> str:
        # ActiveMQ's MySQL adapter asks for InnoDB: MyISAM has no row locks and no transactions.
        return statement + (" ENGINE=INNODB" if self.dialect is Dialect.MYSQL else "")

    @property
    def create_schema(self) -> tuple[str, ...]:
        m, a = MESSAGES, ACKS
        return (
            self._table(
                f"CREATE TABLE {m}(ID {_SEQUENCE_TYPE} NOT NULL, CONTAINER {_CONTAINER_TYPE}, MSGID_PROD {_MSGID_TYPE}"
                f", MSGID_SEQ {_SEQUENCE_TYPE}, EXPIRATION {_LONG_TYPE}, MSG {self.binary_type}, PRIMARY KEY ( ID ) )"
            ),
            f"CREATE INDEX {m}_MIDX ON {m} (MSGID_PROD,MSGID_SEQ)",
            f"CREATE INDEX {m}_CIDX ON {m} (CONTAINER)",
            f"CREATE INDEX {m}_EIDX ON {m} (EXPIRATION)",
            self._table(
                f"CREATE TABLE {a}(CONTAINER {_CONTAINER_TYPE} NOT NULL, SUB_DEST {_STRING_ID_TYPE}"
                f", CLIENT_ID {_STRING_ID_TYPE} NOT NULL, SUB_NAME {_STRING_ID_TYPE} NOT NULL"
                f", SELECTOR {_STRING_ID_TYPE}, LAST_ACKED_ID {_SEQUENCE_TYPE}"
                ", PRIMARY KEY ( CONTAINER, CLIENT_ID, SUB_NAME))"
            ),
            f"ALTER TABLE {m} ADD PRIORITY {_SEQUENCE_TYPE}",
            f"CREATE INDEX {m}_PIDX ON {m} (PRIORITY)",
            f"ALTER TABLE {m} ADD XID {_STRING_ID_TYPE}",
            f"ALTER TABLE {a} ADD PRIORITY {_SEQUENCE_TYPE} DEFAULT 5 NOT NULL",
            f"ALTER TABLE {a} ADD XID {_STRING_ID_TYPE}",
            f"ALTER TABLE {a} {self.drop_ack_primary_key}",
            f"ALTER TABLE {a} ADD PRIMARY KEY (CONTAINER, CLIENT_ID, SUB_NAME, PRIORITY)",
            f"CREATE INDEX {m}_XIDX ON {m} (XID)",
            f"CREATE INDEX {a}_XIDX ON {a} (XID)",
        )

    @property
    def create_lock_schema(self) -> tuple[str, ...]:
        return (
            self._table(
                f"CREATE TABLE {LOCK}( ID {_LONG_TYPE} NOT NULL, TIME {_LONG_TYPE}"
                f", BROKER_NAME {_STRING_ID_TYPE}, PRIMARY KEY (ID) )"
            ),
            f"INSERT INTO {LOCK}(ID) VALUES (1)",
        )

    # Probes: each succeeds only if the table has every column pybroker and ActiveMQ use.
    probe_messages = (
        f"SELECT ID, CONTAINER, MSGID_PROD, MSGID_SEQ, EXPIRATION, MSG, PRIORITY, XID FROM {MESSAGES} WHERE 1 = 0"
    )
    probe_acks = (
        f"SELECT CONTAINER, SUB_DEST, CLIENT_ID, SUB_NAME, SELECTOR, LAST_ACKED_ID, PRIORITY, XID "
        f"FROM {ACKS} WHERE 1 = 0"
    )
    probe_lock = f"SELECT ID, TIME, BROKER_NAME FROM {LOCK} WHERE ID = 1"
    seed_lock_row = f"INSERT INTO {LOCK}(ID) VALUES (1)"

    # -- messages -------------------------------------------------------------------------------
    add_message = (
        f"INSERT INTO {MESSAGES}(ID, MSGID_PROD, MSGID_SEQ, CONTAINER, EXPIRATION, PRIORITY, MSG, XID) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    remove_message = f"DELETE FROM {MESSAGES} WHERE ID=%s"
    # Recovery reads every destination at once, in ID order (the order the messages were sent).
    find_all_messages = f"SELECT ID, CONTAINER, XID, MSG FROM {MESSAGES} ORDER BY ID"
    last_message_id = f"SELECT MAX(ID) FROM {MESSAGES}"
    last_acked_id = f"SELECT MAX(LAST_ACKED_ID) FROM {ACKS}"

    # -- database locker (DefaultDatabaseLocker) ------------------------------------------------
    lock_create = f"SELECT * FROM {LOCK} WHERE ID = 1 FOR UPDATE"
    lock_update = f"UPDATE {LOCK} SET TIME = %s WHERE ID = 1"

    # -- lease locker (LeaseDatabaseLocker) -----------------------------------------------------
    lease_obtain = f"UPDATE {LOCK} SET BROKER_NAME=%s, TIME=%s WHERE (TIME IS NULL OR TIME < %s) AND ID = 1"
    lease_update = f"UPDATE {LOCK} SET BROKER_NAME=%s, TIME=%s WHERE BROKER_NAME=%s AND ID = 1"
    lease_owner = f"SELECT BROKER_NAME, TIME FROM {LOCK} WHERE ID = 1"
    current_date_time = f"SELECT CURRENT_TIMESTAMP FROM {LOCK}"

    # -- pybroker's fencing epoch (row ID=2) ----------------------------------------------------
    epoch_bump = f"UPDATE {LOCK} SET TIME = COALESCE(TIME, 0) + 1, BROKER_NAME = %s WHERE ID = 2"
    epoch_read = f"SELECT TIME FROM {LOCK} WHERE ID = 2"
    epoch_seed = f"INSERT INTO {LOCK}(ID, TIME, BROKER_NAME) VALUES (2, 0, %s)"

    @property
    def epoch_check(self) -> str:
        """The first statement of every write transaction: share-lock the epoch row and read it."""
        if self.dialect is Dialect.POSTGRESQL:
            return f"SELECT TIME FROM {LOCK} WHERE ID = 2 FOR SHARE"
        return f"SELECT TIME FROM {LOCK} WHERE ID = 2 LOCK IN SHARE MODE"
