"""When and in which order to (re)connect: ActiveMQ FailoverTransport's schedule, without any I/O.

The caller does the connecting and the sleeping; this object says how long to wait and which
endpoints to try, so the timing is unit-testable. ActiveMQ's behaviour, reproduced:

* A *pass* tries every endpoint once. Before the first connection there is no wait before a pass;
  once a connection has existed, every pass is preceded by a wait of the current delay (the first
  one being ``initialReconnectDelay`` after the loss).
* After a failed pass: give up if the pass limit is reached, else wait the current delay, then
  multiply it by ``reconnectDelayExponent`` (when ``useExponentialBackOff``), truncated to whole ms
  and capped at ``maxReconnectDelay``. A successful connection resets the delay and the count.
* The pass limit is ``startupMaxReconnectAttempts`` until the first successful connection (unless
  it is -1), ``maxReconnectAttempts`` afterwards; -1 is unlimited. With a limit N >= 1, N passes
  are made; with 0, one pass at startup and no reconnect at all after a loss.
* The connect list is the URI list; with ``randomize`` it is shuffled for every pass; the endpoint
  whose working connection failed last always goes to the end.
* ``priorityBackup``: while connected to an endpoint that is not a priority one (``priorityURIs``,
  default the first URI), probe the priority endpoints at once, then after waits that grow like the
  reconnect delay; switch when one answers.

Deliberate differences: ActiveMQ resets the delay at the start of a pass only when it equals 10 ms
(so an ``initialReconnectDelay`` of 5 with exponent 2 oscillates 5, 10, 5, ...) and shares one delay
between priority probing and reconnecting; here each reconnect episode and each probing period
starts from ``initialReconnectDelay``. Shuffling is a uniform shuffle of the injected RNG.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from harness.client.uri import Endpoint, FailoverOptions

UNLIMITED = -1


@dataclass(frozen=True)
class Pass:
    """One pass over the endpoints: wait ``wait_before_ms``, then try ``order`` in turn."""

    number: int
    wait_before_ms: int
    order: tuple[Endpoint, ...]


@dataclass(frozen=True)
class PassFailure:
    """What to do after a pass where no endpoint answered."""

    failures: int
    give_up: bool
    wait_after_ms: int
    warn: bool


class ReconnectSchedule:
    """The reconnect state of one client: delay, failed passes, last failed endpoint."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        options: FailoverOptions,
        rng: random.Random | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("a reconnect schedule needs at least one endpoint")
        self._endpoints = tuple(endpoints)
        self._options = options
        self._rng = rng if rng is not None else random.Random()
        self._delay_ms = options.initial_reconnect_delay_ms
        self._failures = 0
        self._passes = 0
        self._ever_connected = False
        self._failed: Endpoint | None = None
        self._probe_delay_ms = options.initial_reconnect_delay_ms
        self._probed = False
        priority = options.priority_uris or self._endpoints[:1]
        self._priority = tuple(priority)

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    @property
    def priority_endpoints(self) -> tuple[Endpoint, ...]:
        return self._priority

    @property
    def ever_connected(self) -> bool:
        return self._ever_connected

    @property
    def failures(self) -> int:
        """Failed passes since the last successful connection."""
        return self._failures

    @property
    def pass_limit(self) -> int:
        """Passes allowed now: the startup limit until the first connection, then the normal one."""
        if not self._ever_connected and self._options.startup_max_reconnect_attempts != UNLIMITED:
            return self._options.startup_max_reconnect_attempts
        return self._options.max_reconnect_attempts

    def connection_lost(self, endpoint: Endpoint | None) -> bool:
        """A working connection to ``endpoint`` failed. Returns whether to reconnect at all."""
        if endpoint is not None:
            self._failed = endpoint
        self._passes = 0
        self._failures = 0
        self._delay_ms = self._options.initial_reconnect_delay_ms
        return self.pass_limit != 0

    def connect_order(self) -> tuple[Endpoint, ...]:
        """The endpoints for the next pass: shuffled if randomize, the last failed one at the end."""
        order = [e for e in self._endpoints if e != self._failed]
        if self._options.randomize:
            self._rng.shuffle(order)
        if self._failed is not None and len(order) < len(self._endpoints):
            order.append(self._failed)
        return tuple(order)

    def next_pass(self) -> Pass:
        self._passes += 1
        wait = self._delay_ms if self._ever_connected else 0
        return Pass(self._passes, wait, self.connect_order())

    def pass_failed(self) -> PassFailure:
        """Record a pass where nothing answered; the wait returned is the sleep before the next pass."""
        self._failures += 1
        limit = self.pass_limit
        if limit != UNLIMITED and self._failures >= limit:
            return PassFailure(self._failures, give_up=True, wait_after_ms=0, warn=True)
        every = self._options.warn_after_reconnect_attempts
        warn = every > 0 and (self._failures == 1 or self._failures % every == 0)
        wait = self._delay_ms
        self._delay_ms = self._grow(self._delay_ms)
        return PassFailure(self._failures, give_up=False, wait_after_ms=wait, warn=warn)

    def connected(self, endpoint: Endpoint) -> None:
        """A connection to ``endpoint`` succeeded (including a switch to a priority endpoint)."""
        self._ever_connected = True
        self._failures = 0
        self._passes = 0
        self._delay_ms = self._options.initial_reconnect_delay_ms
        self._probe_delay_ms = self._options.initial_reconnect_delay_ms
        self._probed = False

    def is_priority(self, endpoint: Endpoint) -> bool:
        return self._options.priority_backup and endpoint in self._priority

    def should_probe_priority(self, endpoint: Endpoint) -> bool:
        """Whether, connected to ``endpoint``, the client should look for a priority endpoint."""
        return self._options.priority_backup and endpoint not in self._priority

    def next_probe_wait_ms(self) -> int:
        """Wait before the next priority probe: none for the first after connecting, then growing."""
        if not self._probed:
            self._probed = True
            return 0
        wait = self._probe_delay_ms
        self._probe_delay_ms = self._grow(self._probe_delay_ms)
        return wait

    def _grow(self, delay_ms: int) -> int:
        if not self._options.use_exponential_backoff:
            return delay_ms
        # ActiveMQ keeps the delay in a long: the product is truncated to whole milliseconds.
        grown = int(delay_ms * self._options.reconnect_delay_exponent)
        return min(grown, self._options.max_reconnect_delay_ms)
