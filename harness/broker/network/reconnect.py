"""When a static: or masterslave: connector tries a target again: ActiveMQ's SimpleDiscoveryAgent
(activemq-client 5.17, also behind MasterSlaveDiscoveryAgent), one schedule per target.

An attempt starts (the agent's connectTime). When the attempt or the bridge it made fails:
- within ``minConnectTime`` of the attempt's start, it is a connection failure: the failures in a row
  are counted (``maxReconnectAttempts`` > 0 gives up on reaching it), and the wait is
  ``initialReconnectDelay`` the first time, then the previous wait times ``backOffMultiplier``, capped
  at ``maxReconnectDelay`` (always ``initialReconnectDelay`` without ``useExponentialBackOff``);
- later than that, the bridge had been up: the count is cleared and the wait is
  ``initialReconnectDelay`` again (not nothing: ActiveMQ waits before every attempt after a failure).
So after a long-lived bridge fails, attempts come 1, 3, 7, 15, 31, 61, 91 ... s later with the
defaults, and a bridge that comes up but fails within 5 s does not reset the back-off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.broker.config.network import Reconnect


class ReconnectSchedule:
    """One target's reconnect state; ``clock`` is monotonic seconds."""

    def __init__(self, policy: Reconnect, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.delay_ms = -1  # ActiveMQ's "no wait yet": the first connection failure waits the initial delay
        self.failures = 0  # connection failures in a row
        self.started = clock()

    def attempt(self) -> None:
        """An attempt begins now."""
        self.started = self.clock()

    def failed(self) -> int | None:
        """The current attempt, or the bridge it made, failed now: milliseconds to wait before the next
        attempt, or None when ``maxReconnectAttempts`` connection failures in a row end the retries."""
        policy = self.policy
        if (self.clock() - self.started) * 1000.0 < policy.min_connect_time_ms:
            self.failures += 1
            if policy.max_attempts > 0 and self.failures >= policy.max_attempts:
                return None
            if not policy.exponential or self.delay_ms == -1:
                self.delay_ms = policy.initial_delay_ms
            else:
                # Capped after multiplying: an initial delay above the cap is still waited once.
                self.delay_ms = min(self.delay_ms * policy.multiplier, policy.max_delay_ms)
        else:
            self.failures = 0
            self.delay_ms = policy.initial_delay_ms
        return self.delay_ms
