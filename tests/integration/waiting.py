"""Waiting for a condition in integration tests, with a bound."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(check: Callable[[], bool], within_s: float = 10.0) -> bool:
    """True as soon as ``check()`` is; False if it still is not after ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()
