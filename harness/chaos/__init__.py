"""Seeded chaos: a schedule of faults drawn from a seed and a topology, run against a cluster by an
executor that heals everything at the end, and shrunk to the smallest schedule that still fails."""

from harness.chaos.executor import ChaosExecutor, ExecutedFault
from harness.chaos.generator import generate
from harness.chaos.menu import FaultChoice, fault_menu
from harness.chaos.run import ChaosRun
from harness.chaos.schedule import (
    SCHEDULE_VERSION,
    Schedule,
    ScheduledFault,
    ScheduleError,
    load_schedule,
    parse_duration,
)
from harness.chaos.shrink import ddmin, shrink
from harness.chaos.throughput import throughput_windows

__all__ = [
    "SCHEDULE_VERSION",
    "ChaosExecutor",
    "ChaosRun",
    "ExecutedFault",
    "FaultChoice",
    "Schedule",
    "ScheduleError",
    "ScheduledFault",
    "ddmin",
    "fault_menu",
    "generate",
    "load_schedule",
    "parse_duration",
    "shrink",
    "throughput_windows",
]
