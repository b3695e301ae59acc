"""Faults (nemeses): kill -9, pause, graceful restart, lock-file stealing and holding, network partition,
database outage, database sessions killed, the broker-to-database link cut or slowed.

Each fault is recorded in the history and heals itself on exit; the Nemesis heals leftovers.
``Faults`` (api.py) is the vocabulary scenarios and library users speak to inject them on a cluster.
"""

from harness.faults.api import Faults
from harness.faults.base import Fault, Nemesis
from harness.faults.database import DatabaseOutage, LinkCut, SessionKill, SlowLink
from harness.faults.lockfile import LockHolder, LockSteal
from harness.faults.network import FaultUnsupported, Partition
from harness.faults.process import Kill, Pause, Restart

__all__ = [
    "DatabaseOutage",
    "Fault",
    "FaultUnsupported",
    "Faults",
    "Kill",
    "LinkCut",
    "LockHolder",
    "LockSteal",
    "Nemesis",
    "Partition",
    "Pause",
    "Restart",
    "SessionKill",
    "SlowLink",
]
