"""Destination policies: ActiveMQ wildcards, which entry applies, redelivery delays, dead letter names."""

from __future__ import annotations

import pytest

from harness.broker.core.policy import (
    DeadLetterKind,
    DeadLetterStrategy,
    DestinationKind,
    DestinationPattern,
    PatternMap,
    RedeliveryPolicy,
)

Q = DestinationKind.QUEUE


@pytest.mark.parametrize(
    ("pattern", "destination", "expected"),
    [
        (">", "/queue/anything.at.all", True),
        ("orders.>", "/queue/orders", True),  # ActiveMQ: A.> covers A itself
        ("orders.>", "/queue/orders.eu.paris", True),
        ("orders.>", "/queue/ordersx", False),
        ("orders.*", "/queue/orders.eu", True),
        ("orders.*", "/queue/orders.eu.paris", False),
        ("orders.*", "/queue/orders", False),
        ("*.eu", "/queue/orders.eu", True),
        ("orders", "/queue/orders", True),
        ("orders", "/topic/orders", False),  # a queue pattern never matches a topic
        ("orders.>.>", "/queue/orders.a", True),
    ],
)
def test_wildcards(pattern: str, destination: str, expected: bool) -> None:
    assert DestinationPattern(Q, pattern).matches(destination) is expected


def test_temp_queue_entry_matches_every_temporary_queue() -> None:
    pattern = DestinationPattern(DestinationKind.TEMP_QUEUE, ">")
    assert pattern.matches("/remote-temp-queue/ID:b-1-3:1")
    assert not pattern.matches("/queue/x")


def test_exact_entry_wins_then_the_most_specific_pattern_then_the_default() -> None:
    policies = PatternMap(
        (
            (DestinationPattern(Q, ">"), "everything"),
            (DestinationPattern(Q, "orders.>"), "orders"),
            (DestinationPattern(Q, "orders.eu.>"), "eu orders"),
            (DestinationPattern(Q, "orders.eu.paris"), "paris"),
        ),
        default="default",
    )
    assert policies.lookup("/queue/orders.eu.paris") == "paris"
    assert policies.lookup("/queue/orders.eu.lyon") == "eu orders"
    assert policies.lookup("/queue/orders.us") == "orders"
    assert policies.lookup("/queue/invoices") == "everything"
    assert policies.lookup("/topic/invoices") == "default"
    assert PatternMap[str]().lookup("/queue/x") is None


def test_unrelated_patterns_break_ties_by_name_like_activemq() -> None:
    policies = PatternMap(((DestinationPattern(Q, "*.b"), "star-b"), (DestinationPattern(Q, "a.*"), "a-star")))
    assert policies.lookup("/queue/a.b") == "star-b"  # "*.b" sorts before "a.*"


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (RedeliveryPolicy(), [1000, 1000, 1000]),
        (RedeliveryPolicy(initial_redelivery_delay_ms=2000, redelivery_delay_ms=5000), [2000, 5000, 5000]),
        (
            RedeliveryPolicy(use_exponential_back_off=True, back_off_multiplier=2.0, redelivery_delay_ms=1000),
            [1000, 2000, 4000],
        ),
        (
            RedeliveryPolicy(use_exponential_back_off=True, back_off_multiplier=3.0, maximum_redelivery_delay_ms=5000),
            [1000, 3000, 5000],
        ),
    ],
)
def test_redelivery_delays_follow_activemq(policy: RedeliveryPolicy, delays: list[int]) -> None:
    assert [policy.delay_ms(n) for n in range(3)] == delays


def test_redelivery_limit() -> None:
    policy = RedeliveryPolicy(maximum_redeliveries=2)
    assert [policy.allows(n) for n in range(4)] == [True, True, False, False]
    assert RedeliveryPolicy(maximum_redeliveries=-1).allows(10**6)
    assert not RedeliveryPolicy(maximum_redeliveries=0).allows(0)


def test_dead_letter_destinations() -> None:
    assert DeadLetterStrategy().dead_letter_destination("/queue/a") == "/queue/ActiveMQ.DLQ"
    assert DeadLetterStrategy(dead_letter_queue="Dead").dead_letter_destination("/topic/t") == "/queue/Dead"
    individual = DeadLetterStrategy(kind=DeadLetterKind.INDIVIDUAL)
    assert individual.dead_letter_destination("/queue/a.b") == "/queue/ActiveMQ.DLQ.Queue.a.b"
    assert individual.dead_letter_destination("/topic/t") == "/queue/ActiveMQ.DLQ.Topic.t"
    custom = DeadLetterStrategy(
        kind=DeadLetterKind.INDIVIDUAL, queue_prefix="DLQ.", queue_suffix=".dead", use_queue_for_queue_messages=False
    )
    assert custom.dead_letter_destination("/queue/a") == "/topic/DLQ.a.dead"


def test_dead_letter_strategy_filters() -> None:
    default = DeadLetterStrategy()
    assert default.accepts(persistent=True, expired=False)
    assert not default.accepts(persistent=False, expired=False)  # processNonPersistent=false
    assert default.accepts(persistent=True, expired=True)
    assert not DeadLetterStrategy(process_expired=False).accepts(persistent=True, expired=True)
    assert DeadLetterStrategy(process_non_persistent=True).accepts(persistent=False, expired=False)
    assert not DeadLetterStrategy(kind=DeadLetterKind.DISCARDING).accepts(persistent=True, expired=False)
