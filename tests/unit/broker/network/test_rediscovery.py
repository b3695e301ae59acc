"""The multicast connector's re-dial against ActiveMQ's MulticastDiscoveryAgent (5.17.2), on a fake
clock: advertisements of a failed broker ignored for 5 s, the re-dial on the first one after that,
the exponential formula that leaves the initial delay out, the failure count cleared only 60 s after
a re-dial, maxReconnectAttempts, and a broker forgotten once not heard (dialled at once when heard
again)."""

from __future__ import annotations

import asyncio
import logging

from harness.broker.config.network import Endpoint, MulticastGroup, NetworkConfig, NetworkConnectorConfig, Redial
from harness.broker.network.rediscovery import DiscoveredBroker
from harness.broker.network.service import NetworkService, _MulticastConnector

from .fake_clock import Clock

BEAT_S = 0.5  # the peer's keep-alive: MulticastDiscoveryAgent advertises every 500 ms


def redials(broker: DiscoveredBroker, clock: Clock, failures: int) -> list[float]:
    """Fail the broker ``failures`` times, each time hearing it every beat until it is re-dialled;
    the seconds from each failure to its re-dial."""
    waited: list[float] = []
    for _ in range(failures):
        failed_at = clock.now
        assert broker.bridge_failed() is not None
        while not broker.heard():
            clock.advance(BEAT_S)
            assert clock.now - failed_at < 120, "never re-dialled"
        waited.append(clock.now - failed_at)
    return waited


def test_a_failed_broker_is_redialled_on_the_first_advertisement_5_s_after_each_failure() -> None:
    clock = Clock()
    broker = DiscoveredBroker(Redial(), clock)
    assert not broker.heard(), "a broker that never failed is not re-dialled (it was dialled when first heard)"
    assert redials(broker, clock, 4) == [5.0, 5.0, 5.0, 5.0]  # no back-off by default
    assert broker.failures == 4


def test_the_redial_waits_for_an_advertisement() -> None:
    clock = Clock()
    broker = DiscoveredBroker(Redial(initial_delay_ms=1200), clock)
    broker.bridge_failed()
    clock.advance(1.1)
    assert not broker.heard()
    clock.advance(0.5)  # 1.6 s: the first advertisement after the 1.2 s
    assert broker.heard()


def test_exponential_back_off_is_multiplier_to_the_failures_in_ms_capped() -> None:
    clock = Clock()
    broker = DiscoveredBroker(Redial(exponential=True), clock)
    delays = []
    for _ in range(16):
        delays.append(broker.bridge_failed())
        clock.advance(31.0)
        assert broker.heard()
    # 2 ** failures ms, not initialReconnectDelay times anything: 2, 4, ... 16384, then the 30 s cap.
    assert delays == [2**n for n in range(1, 15)] + [30000, 30000]


def test_one_failure_is_counted_per_dial() -> None:
    clock = Clock()
    broker = DiscoveredBroker(Redial(), clock)
    assert broker.bridge_failed() == 5000
    assert broker.bridge_failed() is None
    assert broker.failures == 1


def test_the_count_clears_only_on_an_advertisement_60_s_after_the_redial() -> None:
    clock = Clock()
    broker = DiscoveredBroker(Redial(exponential=True), clock)
    assert [broker.bridge_failed(), broker.heard()] == [2, False]
    clock.advance(0.5)
    assert broker.heard()  # re-dialled; the bridge now holds
    clock.advance(59.0)
    broker.heard()  # 59.5 s after the re-dial time: still counted
    assert broker.bridge_failed() == 4
    clock.advance(0.5)
    assert broker.heard()
    clock.advance(60.5)
    assert not broker.heard()  # more than 60 s after the re-dial time, not failed: the count clears
    assert broker.bridge_failed() == 2


def test_max_reconnect_attempts_stops_redialling_once_exceeded() -> None:
    clock = Clock()
    broker = DiscoveredBroker(Redial(initial_delay_ms=0, max_attempts=2), clock)
    assert redials(broker, clock, 2) == [0.0, 0.0]  # two failures: re-dialled after each
    broker.bridge_failed()  # the third exceeds 2
    assert broker.given_up
    clock.advance(600.0)
    assert not broker.heard()


def dial_times(
    redial: Redial,
    seconds: float,
    lost: tuple[float, float] | None = None,
    error: type[Exception] = ConnectionRefusedError,
) -> list[float]:
    """A multicast connector hearing one broker every beat for ``seconds`` (not at all during ``lost``,
    (from, to) in seconds, after which the agent drops it), every dial failing with ``error``; when it
    dialled."""
    clock = Clock()
    start = clock.now
    service = NetworkService(NetworkConfig(), logging.getLogger("test.rediscovery"))
    service.clock = clock
    dialled: list[float] = []
    target = Endpoint("amq2", 1)

    async def connect(_: NetworkConnectorConfig, endpoint: Endpoint) -> None:
        assert endpoint == target
        dialled.append(round(clock.now - start, 3))
        raise error("dial failed")

    service._connect = connect  # type: ignore[method-assign,assignment]
    connector = _MulticastConnector(
        NetworkConnectorConfig(discovery="multicast", multicast=MulticastGroup(redial=redial)), service
    )

    async def beats() -> None:
        dropped = False
        while clock.now - start <= seconds:
            at = clock.now - start
            if lost is not None and lost[0] <= at < lost[1]:
                if not dropped:
                    connector.lost(target)
                    dropped = True
            else:
                connector.heard("amq2", target)
            for _ in range(3):  # a refused dial ends within a few loop turns
                await asyncio.sleep(0)
            clock.advance(BEAT_S)
        connector.close()

    asyncio.run(beats())
    return dialled


def test_the_connector_dials_at_once_then_every_5_s_while_refused() -> None:
    assert dial_times(Redial(), 16.0) == [0.0, 5.0, 10.0, 15.0]


def test_with_exponential_back_off_the_first_redials_come_on_every_advertisement() -> None:
    # The waits after failures 1-8 (2, 4 ... 256 ms) are shorter than a beat; the 9th's, 512 ms, is not.
    times = dial_times(Redial(exponential=True), 6.0)
    assert times[:9] == [0.5 * n for n in range(9)]
    assert times[9] == 5.0


def test_a_broker_forgotten_and_heard_again_is_dialled_at_once_with_no_failures_counted() -> None:
    # Refused at 0 s; not heard from 1 s (dropped) until 3 s; heard again at 3 s: dialled then, not at 5 s.
    assert dial_times(Redial(), 9.0, lost=(1.0, 3.0)) == [0.0, 3.0, 8.0]


def test_a_dial_failing_with_an_unexpected_error_is_still_redialled() -> None:
    """An error outside the ones a dial expects (a bug, a malformed answer) still marks the broker
    failed: without that it was never dialled again while it kept advertising."""
    assert dial_times(Redial(), 11.0, error=ValueError) == [0.0, 5.0, 10.0]
