"""When a multicast connector dials a discovered broker again: ActiveMQ's MulticastDiscoveryAgent
(activemq-client 5.17.2, RemoteBrokerData), one state per broker heard.

A broker first heard is dialled at once. When the dial, or the bridge it made, fails (the connector's
serviceFailed), the broker is marked failed, its failure count grows, and its advertisements are
ignored until ``initialReconnectDelay`` has passed (5 s; with ``useExponentialBackOff``,
``backOffMultiplier ** failures`` ms, capped at ``maxReconnectDelay``: ActiveMQ's formula does not
involve the initial delay). There is no timer: the re-dial happens at the first advertisement heard at
or after that time, so on the peer's 500 ms keep-alive. The failure count is cleared by an
advertisement heard more than 60 s after the last re-dial time while the broker is not failed, never
by a successful bridge; once it exceeds ``maxReconnectAttempts`` (when > 0) the broker is not dialled
again while it keeps advertising. A broker not heard for 10 keep-alives, or that said it stopped (a
clean stop sends ``dead``), is forgotten (discovery.py): heard again, it is a new one, dialled at once
with no failures counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.broker.config.network import Redial

# RemoteBrokerData.updateHeartBeat: a re-dial that held this long counts as a recovery.
RECOVERED_AFTER_S = 60.0


class DiscoveredBroker:
    """One broker heard on the group, as one connector sees it; ``clock`` is monotonic seconds."""

    def __init__(self, policy: Redial, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.failed = False
        self.failures = 0
        self.redial_at = 0.0  # ActiveMQ's recoveryTime: advertisements before it are ignored

    def heard(self) -> bool:
        """An advertisement of the broker arrived now: True when it is the one to re-dial it on."""
        now = self.clock()
        if not self.failed and self.failures > 0 and now - self.redial_at > RECOVERED_AFTER_S:
            self.failures = 0
            self.redial_at = 0.0
        if not self.failed or self.given_up or now < self.redial_at:
            return False
        self.failed = False
        return True

    def bridge_failed(self) -> int | None:
        """The dial, or the bridge it made, failed now: the milliseconds its advertisements are ignored,
        or None when it was already marked failed (ActiveMQ counts one failure per dial)."""
        if self.failed:
            return None
        self.failed = True
        self.failures += 1
        policy = self.policy
        if policy.exponential:
            delay = min(policy.multiplier**self.failures, policy.max_delay_ms)
        else:
            delay = policy.initial_delay_ms
        self.redial_at = self.clock() + delay / 1000.0
        return delay

    @property
    def given_up(self) -> bool:
        """More failures than ``maxReconnectAttempts`` (when > 0): not dialled again while it advertises."""
        return self.policy.max_attempts > 0 and self.failures > self.policy.max_attempts
