"""The static:/masterslave: reconnect schedule against ActiveMQ's SimpleDiscoveryAgent (5.17), on a
fake clock: the back-off of connection failures, the wait after a long-lived bridge fails, what
counts as long-lived (minConnectTime from the attempt's start), the give-up count, and the connector
loop that follows it (one pass over a masterslave: pair per attempt)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from harness.broker.config.network import Endpoint, NetworkConfig, NetworkConnectorConfig, Reconnect
from harness.broker.network.reconnect import ReconnectSchedule
from harness.broker.network.service import NetworkService

from .fake_clock import Clock


def waits(schedule: ReconnectSchedule, clock: Clock, failures: int, lasted_s: float = 0.01) -> list[int | None]:
    """The waits after ``failures`` attempts in a row that each fail ``lasted_s`` after starting, the
    clock moving on by each wait as the connector's sleep would."""
    out: list[int | None] = []
    for _ in range(failures):
        schedule.attempt()
        clock.advance(lasted_s)
        delay = schedule.failed()
        out.append(delay)
        if delay is None:
            break
        clock.advance(delay / 1000.0)
    return out


def test_connection_failures_back_off_from_1_s_doubling_to_30_s() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(Reconnect(), clock)
    assert waits(schedule, clock, 8) == [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]


def test_a_bridge_that_was_up_past_min_connect_time_waits_the_initial_delay_then_backs_off_again() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(Reconnect(), clock)
    assert waits(schedule, clock, 6)[-1] == 30000
    schedule.attempt()
    clock.advance(5.0)  # the bridge was up exactly minConnectTime: not a connection failure
    assert schedule.failed() == 1000
    assert schedule.failures == 0
    # The wait is the initial delay, not -1: the next connection failure doubles it at once. So a 3 s
    # cut races the attempt made 3 s after the bridge fell (1 s, then 2 s).
    assert waits(schedule, clock, 4) == [2000, 4000, 8000, 16000]


def test_a_bridge_that_fails_within_min_connect_time_keeps_backing_off() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(Reconnect(), clock)
    assert waits(schedule, clock, 2) == [1000, 2000]
    # It connected and served for 4.9 s: for ActiveMQ that is still a failed connection.
    assert waits(schedule, clock, 1, lasted_s=4.9) == [4000]
    assert schedule.failures == 3


def test_min_connect_time_counts_from_the_attempts_start_so_a_slow_failure_is_long_lived() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(Reconnect(min_connect_time_ms=2000), clock)
    assert waits(schedule, clock, 3) == [1000, 2000, 4000]
    assert waits(schedule, clock, 1, lasted_s=2.5) == [1000]  # e.g. a connect that timed out after 2.5 s
    # minConnectTime=0: every failure is long-lived, so the wait never grows.
    zero = ReconnectSchedule(Reconnect(min_connect_time_ms=0), clock)
    assert waits(zero, clock, 4) == [1000, 1000, 1000, 1000]


def test_without_exponential_back_off_every_wait_is_the_initial_delay() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(Reconnect(initial_delay_ms=250, exponential=False), clock)
    assert waits(schedule, clock, 5) == [250, 250, 250, 250, 250]


def test_the_cap_applies_after_multiplying_and_the_multiplier_is_whole() -> None:
    clock = Clock()
    above = ReconnectSchedule(Reconnect(initial_delay_ms=5000, max_delay_ms=3000), clock)
    assert waits(above, clock, 3) == [5000, 3000, 3000]
    tripled = ReconnectSchedule(Reconnect(initial_delay_ms=100, max_delay_ms=10_000, multiplier=3), clock)
    assert waits(tripled, clock, 6) == [100, 300, 900, 2700, 8100, 10000]


def test_max_reconnect_attempts_counts_connection_failures_in_a_row() -> None:
    clock = Clock()
    schedule = ReconnectSchedule(Reconnect(max_attempts=3), clock)
    assert waits(schedule, clock, 2) == [1000, 2000]
    assert waits(schedule, clock, 1, lasted_s=60) == [1000]  # a long-lived bridge clears the count
    assert waits(schedule, clock, 5) == [2000, 4000, None]
    once = ReconnectSchedule(Reconnect(max_attempts=1), clock)
    assert waits(once, clock, 2) == [None]


@dataclass
class FakeBridge:
    serves: float  # seconds the bridge stays up
    local: str = "here"
    peer: str = "there"


class Stop(Exception):
    """Ends the connector loop once the test has seen enough waits."""


def run_connector(
    connector: NetworkConnectorConfig, outcomes: list[float | None], sleeps: int
) -> tuple[list[int], list[Endpoint]]:
    """Run the connector loop on a fake clock: each attempt at a target fails (None) or makes a bridge
    that serves for the given seconds. Returns the waits (ms) and the targets tried, in order."""
    clock = Clock()
    service = NetworkService(NetworkConfig(), logging.getLogger("test.reconnect"))
    service.clock = clock
    slept: list[int] = []
    tried: list[Endpoint] = []
    pending = list(outcomes)

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds * 1000))
        clock.advance(seconds)
        if len(slept) >= sleeps:
            raise Stop

    async def connect(_: NetworkConnectorConfig, target: Endpoint) -> FakeBridge:
        tried.append(target)
        serves = pending.pop(0) if pending else None
        if serves is None:
            raise ConnectionRefusedError("refused")
        clock.advance(0.01)
        return FakeBridge(serves)

    async def serve(bridge: FakeBridge) -> None:
        clock.advance(bridge.serves)

    service.sleep = sleep
    service._connect = connect  # type: ignore[method-assign,assignment]
    service._serve = serve  # type: ignore[method-assign,assignment]
    with pytest.raises(Stop):
        asyncio.run(service._keep_bridged(connector, connector.targets))
    return slept, tried


A, B = Endpoint("a", 1), Endpoint("b", 2)


def test_the_connector_loop_follows_the_schedule_across_a_long_lived_and_a_short_lived_bridge() -> None:
    static = NetworkConnectorConfig(discovery="static", targets=(A,))
    # Up for 60 s, then 2 refusals, then up for 3 s (short-lived), then refusals.
    slept, tried = run_connector(static, [60.0, None, None, 3.0, None, None], sleeps=6)
    assert slept == [1000, 2000, 4000, 8000, 16000, 30000]
    assert tried == [A] * 6


def test_a_masterslave_attempt_is_one_pass_over_the_pair_in_order() -> None:
    pair = NetworkConnectorConfig(discovery="masterslave", targets=(A, B))
    # Pass 1: a refuses, b serves 10 s. Pass 2 and 3: both refuse.
    slept, tried = run_connector(pair, [None, 10.0, None, None, None, None], sleeps=3)
    assert slept == [1000, 2000, 4000]
    assert tried == [A, B, A, B, A, B]


def attempts_until_given_up(max_attempts: int, error: type[Exception]) -> list[Endpoint]:
    """The targets a static connector tried, every dial failing with ``error``, until it gave up."""
    static = NetworkConnectorConfig(discovery="static", targets=(A,), reconnect=Reconnect(max_attempts=max_attempts))
    service = NetworkService(NetworkConfig(), logging.getLogger("test.reconnect"))
    tried: list[Endpoint] = []

    async def connect(_: NetworkConnectorConfig, target: Endpoint) -> None:
        tried.append(target)
        raise error("dial failed")

    async def sleep(seconds: float) -> None:
        pass

    service.sleep = sleep
    service._connect = connect  # type: ignore[method-assign,assignment]
    asyncio.run(service._keep_bridged(static, static.targets))  # returns: reconnecting disabled
    return tried


def test_the_connector_gives_up_after_max_reconnect_attempts() -> None:
    assert attempts_until_given_up(2, ConnectionRefusedError) == [A, A]


def test_an_attempt_failing_with_an_unexpected_error_is_retried_on_the_schedule() -> None:
    """An error outside the ones a dial expects ends the attempt, not the connector's loop."""
    tried = attempts_until_given_up(3, ValueError)
    assert tried == [A, A, A], f"expected 3 attempts (maxReconnectAttempts), saw {len(tried)}"
