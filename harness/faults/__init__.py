"""Faults (nemeses): kill -9, pause, graceful restart, lock-file stealing and holding, network partition,
database outage, database sessions killed, link faults through Toxiproxy (cut, slowed, blackholed,
throttled, reset, sliced, limited) on any proxied link, ZooKeeper nodes killed or paused, a broker cut
from ZooKeeper.

Each fault is recorded in the history and heals itself on exit; the Nemesis heals leftovers.
``Faults`` (api.py) is the vocabulary scenarios and library users speak to inject them on a cluster.
"""

from harness.faults.api import Faults
from harness.faults.base import Fault, Nemesis
from harness.faults.database import DatabaseOutage, SessionKill
from harness.faults.links import Bandwidth, Blackhole, LimitData, LinkCut, LinkToxic, ResetPeer, Slicer, SlowLink
from harness.faults.lockfile import LockHolder, LockSteal
from harness.faults.network import FaultUnsupported, Partition
from harness.faults.process import Kill, Pause, Restart
from harness.faults.zookeeper import ZooKeeperCut, ZooKeeperKill, ZooKeeperPause

__all__ = [
    "Bandwidth",
    "Blackhole",
    "DatabaseOutage",
    "Fault",
    "FaultUnsupported",
    "Faults",
    "Kill",
    "LimitData",
    "LinkCut",
    "LinkToxic",
    "LockHolder",
    "LockSteal",
    "Nemesis",
    "Partition",
    "Pause",
    "ResetPeer",
    "Restart",
    "SessionKill",
    "Slicer",
    "SlowLink",
    "ZooKeeperCut",
    "ZooKeeperKill",
    "ZooKeeperPause",
]
