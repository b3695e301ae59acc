"""Topology: a declarative description of a cluster (groups, nodes, stores) and its presets.

The renderer turns one node of a topology into the activemq.xml that both vendors read.
"""

from harness.topology.model import LockSettings, MasterSlaveGroup, Topology
from harness.topology.presets import shared_file

__all__ = ["LockSettings", "MasterSlaveGroup", "Topology", "shared_file"]
