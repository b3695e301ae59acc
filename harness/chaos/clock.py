"""The time a chaos run goes by: the monotonic clock and waits on it, replaceable so that a run can be
driven on a clock a test moves by hand (the history, the executor and the serving rule read one clock)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Now, in ns on the clock the run's history is stamped with."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` passed; whether it is set (as ``Event.wait``)."""
        ...


class SystemClock:
    """time.monotonic_ns, the clock History stamps ops with by default."""

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


SYSTEM_CLOCK = SystemClock()
