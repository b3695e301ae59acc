"""Faults (nemeses): kill -9, pause, graceful restart, lock-file stealing, network partition.

Each fault is recorded in the history and heals itself on exit; the Nemesis heals leftovers.
"""

from harness.faults.base import Fault, Nemesis
from harness.faults.lockfile import LockSteal
from harness.faults.network import FaultUnsupported, Partition
from harness.faults.process import Kill, Pause, Restart

__all__ = ["Fault", "FaultUnsupported", "Kill", "LockSteal", "Nemesis", "Partition", "Pause", "Restart"]
