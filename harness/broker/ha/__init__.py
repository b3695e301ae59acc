"""pybroker's master/slave: fencing epochs, the shared-file locker, the database lockers, the ZooKeeper
group, and one lifecycle module per master/slave mode (shared file, JDBC, replicated).

The top layer: a lifecycle depends on the server (terms and listeners) and on its store; nothing but
the entry point imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.broker.config.activemq_xml import JdbcStoreConfig, StoreConfig
    from harness.broker.config.replicated_leveldb import ReplicatedStoreConfig
    from harness.broker.server import BrokerServer, MasterSlave


def master_slave_for(server: BrokerServer, store: StoreConfig | JdbcStoreConfig | ReplicatedStoreConfig) -> MasterSlave:
    """The lifecycle of the store's master/slave mode (imported on use: JDBC loads the database drivers,
    the replicated store kazoo)."""
    from harness.broker.config.activemq_xml import JdbcStoreConfig
    from harness.broker.config.replicated_leveldb import ReplicatedStoreConfig

    if isinstance(store, ReplicatedStoreConfig):
        from harness.broker.ha.replicated import ReplicatedMasterSlave

        return ReplicatedMasterSlave(server, store)

    if isinstance(store, JdbcStoreConfig):
        from harness.broker.ha.jdbc import JdbcMasterSlave

        return JdbcMasterSlave(server, store, server.config.io_exception_handler)
    from harness.broker.ha.shared_file import SharedFileMasterSlave

    return SharedFileMasterSlave(server, store)
