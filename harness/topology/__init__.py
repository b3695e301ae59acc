"""Topology: a declarative description of a cluster (groups, nodes, stores, broker settings, network
connectors) and its presets.

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
from harness.topology.network import NetworkConnector
from harness.topology.network_presets import combined, fan_out, network
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
    "NetworkConnector",
    "RedeliveryLimit",
    "ReplicatedStore",
    "SimpleAuthentication",
    "Topology",
    "User",
    "combined",
    "fan_out",
    "jdbc",
    "network",
    "replicated",
    "shared_file",
]
