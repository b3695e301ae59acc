"""Topology: a declarative description of a cluster (groups, nodes, stores, broker settings) and its presets.

The renderer turns one node of a topology into the activemq.xml that both vendors read.
"""

from harness.topology.model import (
    BrokerSettings,
    ConnectorLimits,
    DeadLetterQueues,
    DestinationPolicy,
    IOExceptionHandler,
    JdbcStore,
    LockSettings,
    MasterSlaveGroup,
    RedeliveryLimit,
    ReplicatedStore,
    SimpleAuthentication,
    Topology,
    User,
)
from harness.topology.presets import jdbc, replicated, shared_file

__all__ = [
    "BrokerSettings",
    "ConnectorLimits",
    "DeadLetterQueues",
    "DestinationPolicy",
    "IOExceptionHandler",
    "JdbcStore",
    "LockSettings",
    "MasterSlaveGroup",
    "RedeliveryLimit",
    "ReplicatedStore",
    "SimpleAuthentication",
    "Topology",
    "User",
    "jdbc",
    "replicated",
    "shared_file",
]
