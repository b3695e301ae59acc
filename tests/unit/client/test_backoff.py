"""The reconnect schedule: exact delays, pass limits, ordering, priority probing."""

from __future__ import annotations

import random

from harness.client.backoff import ReconnectSchedule
from harness.client.uri import Endpoint, FailoverOptions, parse_failover_uri

A, B, C = Endpoint("a", 1), Endpoint("b", 2), Endpoint("c", 3)


def schedule(query: str = "", endpoints: str = "tcp://a:1,tcp://b:2,tcp://c:3", seed: int = 7) -> ReconnectSchedule:
    uri = parse_failover_uri(f"failover:({endpoints})?{query}")
    return ReconnectSchedule(uri.endpoints, uri.options, random.Random(seed))


def run_until_give_up(s: ReconnectSchedule, max_passes: int = 100) -> list[tuple[int, int]]:
    """Fail every pass; returns (wait_before, wait_after) per pass, until give-up or max_passes."""
    waits: list[tuple[int, int]] = []
    for _ in range(max_passes):
        plan = s.next_pass()
        failure = s.pass_failed()
        waits.append((plan.wait_before_ms, failure.wait_after_ms))
        if failure.give_up:
            break
    return waits


def test_startup_has_no_wait_before_passes_and_exponential_waits_after() -> None:
    waits = run_until_give_up(schedule("randomize=false&startupMaxReconnectAttempts=5"))
    assert waits == [(0, 10), (0, 20), (0, 40), (0, 80), (0, 0)]


def test_after_a_lost_connection_every_pass_waits_the_current_delay_before_and_after() -> None:
    s = schedule("randomize=false&maxReconnectAttempts=4")
    s.connected(A)
    assert s.connection_lost(A)
    assert run_until_give_up(s) == [(10, 10), (20, 20), (40, 40), (80, 0)]


def test_delay_is_capped_at_max_reconnect_delay() -> None:
    s = schedule("initialReconnectDelay=100&maxReconnectDelay=500&startupMaxReconnectAttempts=6")
    assert [after for _, after in run_until_give_up(s)] == [100, 200, 400, 500, 500, 0]


def test_without_exponential_backoff_the_delay_stays_initial() -> None:
    s = schedule("initialReconnectDelay=250&useExponentialBackOff=false&startupMaxReconnectAttempts=4")
    assert [after for _, after in run_until_give_up(s)] == [250, 250, 250, 0]


def test_fractional_exponent_truncates_to_whole_milliseconds_like_activemq() -> None:
    s = schedule("reconnectDelayExponent=1.5&startupMaxReconnectAttempts=5")
    assert [after for _, after in run_until_give_up(s)] == [10, 15, 22, 33, 0]


def test_max_reconnect_attempts_zero_allows_one_startup_pass_and_no_reconnect() -> None:
    s = schedule("maxReconnectAttempts=0")
    assert len(run_until_give_up(s)) == 1
    s = schedule("maxReconnectAttempts=0")
    s.connected(A)
    assert s.connection_lost(A) is False


def test_max_reconnect_attempts_n_makes_n_passes_after_a_loss() -> None:
    s = schedule("maxReconnectAttempts=3")
    s.connected(A)
    s.connection_lost(A)
    assert len(run_until_give_up(s)) == 3


def test_max_reconnect_attempts_minus_one_never_gives_up() -> None:
    s = schedule("maxReconnectDelay=1000")
    waits = run_until_give_up(s, max_passes=50)
    assert len(waits) == 50
    assert waits[-1] == (0, 1000)


def test_startup_limit_applies_only_until_the_first_connection() -> None:
    s = schedule("startupMaxReconnectAttempts=2&maxReconnectAttempts=5")
    assert len(run_until_give_up(s)) == 2
    s = schedule("startupMaxReconnectAttempts=2&maxReconnectAttempts=5")
    s.connected(B)
    s.connection_lost(B)
    assert len(run_until_give_up(s)) == 5


def test_startup_uses_max_reconnect_attempts_when_startup_limit_is_unlimited() -> None:
    assert len(run_until_give_up(schedule("maxReconnectAttempts=3"))) == 3


def test_success_resets_delay_and_failure_count() -> None:
    s = schedule("randomize=false&maxReconnectAttempts=3")
    s.connected(A)
    s.connection_lost(A)
    s.next_pass()
    s.pass_failed()
    s.next_pass()
    s.pass_failed()
    s.connected(B)
    assert s.failures == 0
    s.connection_lost(B)
    assert run_until_give_up(s) == [(10, 10), (20, 20), (40, 0)]


def test_warnings_on_first_failure_and_every_n() -> None:
    s = schedule("warnAfterReconnectAttempts=3")
    warned = [s.pass_failed().warn for _ in range(7)]
    assert warned == [True, False, True, False, False, True, False]


def test_without_randomize_order_is_as_written() -> None:
    assert schedule("randomize=false").next_pass().order == (A, B, C)


def test_the_endpoint_that_failed_goes_last_even_without_randomize() -> None:
    s = schedule("randomize=false")
    s.connected(A)
    s.connection_lost(A)
    assert s.next_pass().order == (B, C, A)
    s.connected(B)
    s.connection_lost(B)
    assert s.next_pass().order == (A, C, B)


def test_randomize_shuffles_each_pass_with_the_injected_rng_and_failed_goes_last() -> None:
    endpoints = ",".join(f"tcp://h{i}:{i}" for i in range(1, 7))
    s = schedule("", endpoints=endpoints, seed=1)
    failed = Endpoint("h3", 3)
    s.connected(failed)
    s.connection_lost(failed)
    orders = [s.next_pass().order for _ in range(5)]
    assert all(order[-1] == failed for order in orders)
    assert all(sorted(str(e) for e in order) == sorted(f"h{i}:{i}" for i in range(1, 7)) for order in orders)
    assert len({order[:-1] for order in orders}) > 1, "expected different shuffles over five passes"
    # Same seed, same sequence: a failing run can be replayed.
    again = schedule("", endpoints=endpoints, seed=1)
    again.connected(failed)
    again.connection_lost(failed)
    assert [again.next_pass().order for _ in range(5)] == orders


def test_priority_defaults_to_first_uri_and_probes_grow_like_the_delay() -> None:
    s = schedule("priorityBackup=true&maxReconnectDelay=50")
    assert s.priority_endpoints == (A,)
    s.connected(B)
    assert s.should_probe_priority(B)
    assert not s.should_probe_priority(A)
    assert [s.next_probe_wait_ms() for _ in range(5)] == [0, 10, 20, 40, 50]
    s.connected(C)
    assert s.next_probe_wait_ms() == 0


def test_priority_uris_option_names_the_priority_endpoints() -> None:
    s = schedule("priorityBackup=true&priorityURIs=tcp://b:2,tcp://c:3")
    assert s.priority_endpoints == (B, C)
    assert s.should_probe_priority(A)
    assert not s.should_probe_priority(C)


def test_no_probing_without_priority_backup() -> None:
    s = schedule("")
    s.connected(B)
    assert not s.should_probe_priority(B)


def test_schedule_from_default_options() -> None:
    s = ReconnectSchedule([A], FailoverOptions())
    assert s.next_pass().order == (A,)
