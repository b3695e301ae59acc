"""pybroker's master/slave: fencing epochs, the shared-file locker, the database lockers, and one lifecycle
module per master/slave mode (shared file, JDBC).

The top layer: a lifecycle depends on the server (terms and listeners) and on its store; nothing but
the entry point imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.broker.config.activemq_xml import JdbcStoreConfig, StoreConfig
    from harness.broker.server import BrokerServer, MasterSlave


def master_slave_for(server: BrokerServer, store: StoreConfig | JdbcStoreConfig) -> MasterSlave:
    """The lifecycle of the store's master/slave mode (imported on use: JDBC loads the database drivers)."""
    from harness.broker.config.activemq_xml import JdbcStoreConfig

    if isinstance(store, JdbcStoreConfig):
        from harness.broker.ha.jdbc import JdbcMasterSlave

        return JdbcMasterSlave(server, store, server.config.io_exception_handler)
    from harness.broker.ha.shared_file import SharedFileMasterSlave

    return SharedFileMasterSlave(server, store)
