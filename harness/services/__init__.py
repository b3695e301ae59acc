"""Services a cluster depends on: database servers (PostgreSQL, MariaDB) and ZooKeeper ensembles started
as local processes (the links between brokers and their services are Toxiproxy proxies: harness.toxiproxy)."""

from harness.services.database import (
    DATABASE_KINDS,
    DatabaseKind,
    DatabaseRef,
    DatabaseServer,
    DatabaseUnavailable,
    MariaDBServer,
    PostgresServer,
    start_server,
)
from harness.services.pool import DatabasePool
from harness.services.zookeeper import ZooKeeperEnsemble, ZooKeeperUnavailable

__all__ = [
    "DATABASE_KINDS",
    "DatabaseKind",
    "DatabasePool",
    "DatabaseRef",
    "DatabaseServer",
    "DatabaseUnavailable",
    "MariaDBServer",
    "PostgresServer",
    "ZooKeeperEnsemble",
    "ZooKeeperUnavailable",
    "start_server",
]
