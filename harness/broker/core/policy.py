"""Per-destination policies from activemq.xml: destinationPolicy entries and the redelivery plugin.

Entries name destinations with ActiveMQ wildcards (``.`` separates segments, ``*`` is one segment,
``>`` is the rest, including nothing: ``a.>`` covers ``a``). Like ActiveMQ's DestinationMap, one
entry applies: the exact name if an entry has it, else the most specific matching pattern, else
the default entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from harness.broker.message import DLQ_NAME, QUEUE_PREFIX, TOPIC_PREFIX, is_queue, is_temporary, physical_name

DEFAULT_QUEUE_PREFETCH = 1000
DEFAULT_TOPIC_PREFETCH = 32766
DEFAULT_DURABLE_TOPIC_PREFETCH = 100
DEFAULT_QUEUE_BROWSER_PREFETCH = 500
DEFAULT_EXPIRE_MESSAGES_PERIOD_MS = 30_000
DEFAULT_GROUP_CACHE_SIZE = 1024


class DestinationKind(StrEnum):
    QUEUE = "queue"
    TOPIC = "topic"
    TEMP_QUEUE = "temp-queue"
    TEMP_TOPIC = "temp-topic"


def kind_of(destination: str) -> DestinationKind:
    if is_temporary(destination):
        return DestinationKind.TEMP_QUEUE if is_queue(destination) else DestinationKind.TEMP_TOPIC
    return DestinationKind.QUEUE if is_queue(destination) else DestinationKind.TOPIC


def _segment_matches(pattern: str, segment: str) -> bool:
    return pattern == "*" or segment == "*" or pattern == segment


@dataclass(frozen=True)
class DestinationPattern:
    """``queue="orders.>"`` and friends; temp kinds match every temporary destination of that kind."""

    kind: DestinationKind
    pattern: str

    @property
    def is_wildcard(self) -> bool:
        return any(part in ("*", ">") for part in self.pattern.split("."))

    def matches_name(self, name: str) -> bool:
        prefix = self.pattern.split(".")
        path = name.split(".")
        if prefix[-1] == ">":
            while len(prefix) > 1 and prefix[-2] == ">":
                prefix.pop()
            head = prefix[:-1]
            if len(path) >= len(head):
                return all(_segment_matches(p, s) for p, s in zip(head, path, strict=False))
            return False
        if len(prefix) != len(path):
            return False
        return all(_segment_matches(p, s) for p, s in zip(prefix, path, strict=True))

    def matches(self, destination: str) -> bool:
        if kind_of(destination) is not self.kind:
            return False
        if self.kind in (DestinationKind.TEMP_QUEUE, DestinationKind.TEMP_TOPIC):
            return True
        return self.matches_name(physical_name(destination))

    def covers(self, other: DestinationPattern) -> bool:
        """Whether this pattern matches the other's text (it is less specific)."""
        return self.kind is other.kind and self.is_wildcard and self.matches_name(other.pattern)

    def __str__(self) -> str:
        return f'{self.kind.value}="{self.pattern}"'


V = TypeVar("V")


@dataclass(frozen=True)
class PatternMap(Generic[V]):
    """Destination -> the one entry that applies (exact, else most specific pattern, else default)."""

    entries: tuple[tuple[DestinationPattern, V], ...] = ()
    default: V | None = None

    def lookup(self, destination: str) -> V | None:
        matching = [(p, v) for p, v in self.entries if p.matches(destination)]
        if not matching:
            return self.default
        for pattern, value in matching:
            if not pattern.is_wildcard:
                return value
        # The most specific: a pattern no other matching pattern is more specific than.
        best_pattern, best_value = matching[0]
        for pattern, value in matching[1:]:
            more_specific = best_pattern.covers(pattern) and not pattern.covers(best_pattern)
            unrelated = not pattern.covers(best_pattern) and not best_pattern.covers(pattern)
            if more_specific or (unrelated and pattern.pattern < best_pattern.pattern):
                best_pattern, best_value = pattern, value
        return best_value


# -- dead letter strategies ---------------------------------------------------------------------


class DeadLetterKind(StrEnum):
    SHARED = "sharedDeadLetterStrategy"
    INDIVIDUAL = "individualDeadLetterStrategy"
    DISCARDING = "discardingDeadLetterStrategy"


@dataclass(frozen=True)
class DeadLetterStrategy:
    """Where poisoned and expired messages go (ActiveMQ's defaults: shared ActiveMQ.DLQ)."""

    kind: DeadLetterKind = DeadLetterKind.SHARED
    dead_letter_queue: str = DLQ_NAME  # shared: <deadLetterQueue><queue physicalName=.../>
    queue_prefix: str = "ActiveMQ.DLQ.Queue."
    topic_prefix: str = "ActiveMQ.DLQ.Topic."
    queue_suffix: str = ""
    topic_suffix: str = ""
    use_queue_for_queue_messages: bool = True
    use_queue_for_topic_messages: bool = True
    process_expired: bool = True
    process_non_persistent: bool = False
    expiration_ms: int = 0  # lifetime of a message in the DLQ; 0 = forever

    def accepts(self, persistent: bool, expired: bool) -> bool:
        if self.kind is DeadLetterKind.DISCARDING:
            return False
        if not persistent and not self.process_non_persistent:
            return False
        return not (expired and not self.process_expired)

    def dead_letter_destination(self, origin: str) -> str:
        """The STOMP destination dead letters from ``origin`` go to."""
        if self.kind is not DeadLetterKind.INDIVIDUAL:
            return QUEUE_PREFIX + self.dead_letter_queue
        if is_queue(origin):
            name = self.queue_prefix + physical_name(origin) + self.queue_suffix
            return (QUEUE_PREFIX if self.use_queue_for_queue_messages else TOPIC_PREFIX) + name
        name = self.topic_prefix + physical_name(origin) + self.topic_suffix
        return (QUEUE_PREFIX if self.use_queue_for_topic_messages else TOPIC_PREFIX) + name


class GroupMapKind(StrEnum):
    CACHED = "cachedMessageGroupMapFactory"
    SIMPLE = "simpleMessageGroupMapFactory"
    HASH_BUCKET = "messageGroupHashBucketFactory"


@dataclass(frozen=True)
class GroupMapSettings:
    kind: GroupMapKind = GroupMapKind.CACHED
    cache_size: int = DEFAULT_GROUP_CACHE_SIZE
    bucket_count: int = 1024


@dataclass(frozen=True)
class PolicyEntry:
    """One <policyEntry>: the subset pybroker implements, with ActiveMQ's defaults."""

    prioritized_messages: bool = False
    use_consumer_priority: bool = True
    all_consumers_exclusive_by_default: bool = False
    expire_messages_period_ms: int = DEFAULT_EXPIRE_MESSAGES_PERIOD_MS
    queue_prefetch: int = DEFAULT_QUEUE_PREFETCH
    topic_prefetch: int = DEFAULT_TOPIC_PREFETCH
    durable_topic_prefetch: int = DEFAULT_DURABLE_TOPIC_PREFETCH
    queue_browser_prefetch: int = DEFAULT_QUEUE_BROWSER_PREFETCH
    dead_letter: DeadLetterStrategy = field(default_factory=DeadLetterStrategy)
    groups: GroupMapSettings = field(default_factory=GroupMapSettings)
    # <conditionalNetworkBridgeFilterFactory replayWhenNoConsumers>: a queue message that came over a
    # bridge may go back to a broker in its path while this broker has no consumer of its own.
    # On unless a policy says replayWhenNoConsumers="false" (ActiveMQ: off), so that messages follow
    # their consumers (see the broker README).
    replay_when_no_consumers: bool = True
    # The destination's duplicate audit (ActiveMQ's enableAudit); see the broker README for what it
    # means to pybroker's bridges.
    enable_audit: bool = True


DEFAULT_POLICY = PolicyEntry()


@dataclass(frozen=True)
class PolicyMap:
    entries: PatternMap[PolicyEntry] = field(default_factory=PatternMap)

    def policy_for(self, destination: str) -> PolicyEntry:
        return self.entries.lookup(destination) or DEFAULT_POLICY


# -- broker-side redelivery ---------------------------------------------------------------------


@dataclass(frozen=True)
class RedeliveryPolicy:
    """One <redeliveryPolicy> (ActiveMQ's RedeliveryPolicy and its defaults)."""

    maximum_redeliveries: int = 6  # -1: unlimited
    initial_redelivery_delay_ms: int = 1000
    redelivery_delay_ms: int = 1000
    use_exponential_back_off: bool = False
    back_off_multiplier: float = 5.0
    maximum_redelivery_delay_ms: int = -1

    def allows(self, redelivery_count: int) -> bool:
        return self.maximum_redeliveries == -1 or redelivery_count < self.maximum_redeliveries

    def delay_ms(self, redelivery_count: int) -> int:
        """The delay before redelivery number ``redelivery_count + 1`` (RedeliveryPlugin's loop)."""
        delay = self.initial_redelivery_delay_ms
        for _ in range(redelivery_count):
            delay = self._next_delay(delay)
        return delay

    def _next_delay(self, previous: int) -> int:
        delay = self.redelivery_delay_ms
        if previous > 0 and self.use_exponential_back_off and self.back_off_multiplier > 1:
            delay = int(previous * self.back_off_multiplier)
            if self.maximum_redelivery_delay_ms != -1 and delay > self.maximum_redelivery_delay_ms:
                delay = max(self.maximum_redelivery_delay_ms, self.redelivery_delay_ms)
        return delay


@dataclass(frozen=True)
class RedeliverySettings:
    """<redeliveryPlugin>: poisoned messages are redelivered after a delay before they dead-letter."""

    policies: PatternMap[RedeliveryPolicy] = field(default_factory=PatternMap)
    fallback_to_dead_letter: bool = True
    send_to_dlq_if_max_retries_exceeded: bool = True
