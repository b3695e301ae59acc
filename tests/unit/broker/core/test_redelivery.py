"""NACK, the redelivery plugin, dead letter strategies and expiry: where a failed message ends up."""

from __future__ import annotations

import asyncio

from harness.broker.core.broker import AckMode, CoreSettings, Transaction
from harness.broker.core.policy import (
    DeadLetterKind,
    DeadLetterStrategy,
    DestinationKind,
    DestinationPattern,
    PatternMap,
    PolicyEntry,
    PolicyMap,
    RedeliveryPolicy,
    RedeliverySettings,
)
from harness.broker.store.contract import AddOp, RemoveOp

from ..broker_fakes import CoreEnv, FakeClient


def queue_pattern(pattern: str) -> DestinationPattern:
    return DestinationPattern(DestinationKind.QUEUE, pattern)


def redelivering(loop: asyncio.AbstractEventLoop, **options: object) -> CoreEnv:
    """Redelivery plugin: queue limited.> redelivers twice after 1 s (like the real config in the docs)."""
    policies = PatternMap(((queue_pattern("limited.>"), RedeliveryPolicy(maximum_redeliveries=2)),))
    settings = RedeliverySettings(policies=policies, **options)  # type: ignore[arg-type]
    return CoreEnv(loop, CoreSettings(redelivery=settings, scheduler_support=True))


def consume(env: CoreEnv, dest: str = "/queue/a") -> tuple[FakeClient, object]:
    client = FakeClient()
    sub = env.broker.subscribe(client, "s", dest, AckMode.CLIENT_INDIVIDUAL)
    env.settle()
    return client, sub


def dead_letters(env: CoreEnv, dlq: str = "/queue/ActiveMQ.DLQ") -> FakeClient:
    client = FakeClient()
    env.broker.subscribe(client, "dlq", dlq, AckMode.AUTO)
    env.settle()
    return client


# -- NACK without the plugin: the dead letter strategy ------------------------------------------


def test_nack_sends_a_persistent_message_to_the_dlq_with_activemq_headers(loop: asyncio.AbstractEventLoop) -> None:
    env = CoreEnv(loop)
    env.send("poison", headers={"custom": "v"})
    client, sub = consume(env)
    original = client.last()
    env.broker.nack(sub, original.message_id)  # type: ignore[arg-type]
    env.settle()
    remove, add = env.store.records[-1]  # one atomic record: out of the queue, into the DLQ
    assert remove == RemoveOp(original.message_id, "/queue/a")
    assert isinstance(add, AddOp) and add.message.container == "/queue/ActiveMQ.DLQ"
    dead = dead_letters(env).last()
    assert dead.message_id == original.message_id
    assert dead.headers == {"custom": "v", "original-destination": "/queue/a", "originalExpiration": "0"}
    assert dead.persistent and not dead.redelivered


def test_nack_drops_a_non_persistent_message(loop: asyncio.AbstractEventLoop) -> None:
    env = CoreEnv(loop)
    env.send("gone", persistent=False)
    client, sub = consume(env)
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    assert env.broker.queue_depths()["/queue/a"] == 0
    assert "/queue/ActiveMQ.DLQ" not in env.broker.queue_depths()


def test_process_non_persistent_dead_letters_them_as_persistent(loop: asyncio.AbstractEventLoop) -> None:
    policy = PolicyEntry(dead_letter=DeadLetterStrategy(process_non_persistent=True))
    env = CoreEnv(loop, CoreSettings(policies=PolicyMap(PatternMap(default=policy))))
    env.send("np", persistent=False)
    client, sub = consume(env)
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    dead = dead_letters(env).last()
    assert dead.persistent and dead.headers["originalDeliveryMode"] == "NON_PERSISTENT"
    assert any(isinstance(op, AddOp) and op.message.destination == "/queue/ActiveMQ.DLQ" for op in env.ops())


def test_individual_dead_letter_queue(loop: asyncio.AbstractEventLoop) -> None:
    strategy = DeadLetterStrategy(kind=DeadLetterKind.INDIVIDUAL, queue_prefix="DLQ.")
    entries = PatternMap(((queue_pattern(">"), PolicyEntry(dead_letter=strategy)),))
    env = CoreEnv(loop, CoreSettings(policies=PolicyMap(entries)))
    env.send("x", dest="/queue/orders")
    client, sub = consume(env, "/queue/orders")
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    assert env.broker.queue_depths()["/queue/DLQ.orders"] == 1


def test_discarding_strategy_drops_poison(loop: asyncio.AbstractEventLoop) -> None:
    policy = PolicyEntry(dead_letter=DeadLetterStrategy(kind=DeadLetterKind.DISCARDING))
    env = CoreEnv(loop, CoreSettings(policies=PolicyMap(PatternMap(default=policy))))
    env.send("x")
    client, sub = consume(env)
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    assert env.broker.queue_depths() == {"/queue/a": 0}
    assert env.store.records[-1] == [RemoveOp(client.last().message_id, "/queue/a")]


def test_nack_inside_the_dlq_does_not_loop(loop: asyncio.AbstractEventLoop) -> None:
    env = CoreEnv(loop)
    env.send("x")
    client, sub = consume(env)
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    dlq_client, dlq_sub = consume(env, "/queue/ActiveMQ.DLQ")
    env.broker.nack(dlq_sub, dlq_client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    assert env.broker.queue_depths()["/queue/ActiveMQ.DLQ"] == 0, "ActiveMQ drops it rather than re-adding"


def test_nack_in_a_transaction_takes_effect_on_commit(loop: asyncio.AbstractEventLoop) -> None:
    env = CoreEnv(loop)
    env.send("x")
    client, sub = consume(env)
    tx = Transaction("t")
    env.broker.nack(sub, client.last().message_id, tx)  # type: ignore[arg-type]
    env.settle()
    assert "/queue/ActiveMQ.DLQ" not in env.broker.queue_depths()
    env.broker.commit(tx)
    env.settle()
    assert env.broker.queue_depths()["/queue/ActiveMQ.DLQ"] == 1


# -- the redelivery plugin ----------------------------------------------------------------------


def test_plugin_redelivers_after_the_delay_then_dead_letters(loop: asyncio.AbstractEventLoop) -> None:
    env = redelivering(loop)
    env.send("poison", dest="/queue/limited.a")
    client, sub = consume(env, "/queue/limited.a")
    for attempt in range(2):
        env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
        env.advance(0.5)
        assert len(client.received) == attempt + 1, "nothing before the redelivery delay"
        env.advance(0.6)
        assert len(client.received) == attempt + 2
        again = client.last()
        assert again.redelivered and again.redelivery_count == attempt + 1
        assert again.headers["redeliveryDelay"] == "1000"
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]  # the third failure
    env.advance(5)
    assert len(client.received) == 3
    dead = dead_letters(env).last()
    assert dead.body == b"poison" and dead.headers["original-destination"] == "/queue/limited.a"


def test_plugin_journals_the_redelivery_atomically(loop: asyncio.AbstractEventLoop) -> None:
    env = redelivering(loop)
    env.send("poison", dest="/queue/limited.a")
    client, sub = consume(env, "/queue/limited.a")
    message_id = client.last().message_id
    env.broker.nack(sub, message_id)  # type: ignore[arg-type]
    remove, add = env.store.records[-1]
    assert remove == RemoveOp(message_id, "/queue/limited.a")
    assert isinstance(add, AddOp) and add.message.message_id == message_id
    assert add.message.redelivery_count == 1
    assert add.message.deliver_at == env.clock.ms() + 1000


def test_plugin_without_a_matching_policy_falls_back_to_the_dlq(loop: asyncio.AbstractEventLoop) -> None:
    env = redelivering(loop)
    env.send("x", dest="/queue/other")
    client, sub = consume(env, "/queue/other")
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    assert env.broker.queue_depths()["/queue/ActiveMQ.DLQ"] == 1


def test_plugin_without_fallback_discards(loop: asyncio.AbstractEventLoop) -> None:
    env = redelivering(loop, fallback_to_dead_letter=False)
    env.send("x", dest="/queue/other")
    client, sub = consume(env, "/queue/other")
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    assert "/queue/ActiveMQ.DLQ" not in env.broker.queue_depths()
    assert env.broker.queue_depths()["/queue/other"] == 0


def test_plugin_can_discard_when_retries_are_exhausted(loop: asyncio.AbstractEventLoop) -> None:
    env = redelivering(loop, send_to_dlq_if_max_retries_exceeded=False)
    env.send("x", dest="/queue/limited.b")
    client, sub = consume(env, "/queue/limited.b")
    for _ in range(3):
        env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
        env.advance(1.1)
    assert len(client.received) == 3
    assert "/queue/ActiveMQ.DLQ" not in env.broker.queue_depths()


def test_closed_subscriptions_count_as_redeliveries(loop: asyncio.AbstractEventLoop) -> None:
    """ActiveMQ's redelivery counter also counts deliveries lost with a closed consumer."""
    env = redelivering(loop)
    env.send("x", dest="/queue/limited.c")
    client, sub = consume(env, "/queue/limited.c")
    env.broker.unsubscribe(sub)  # type: ignore[arg-type]
    env.broker.unsubscribe(consume(env, "/queue/limited.c")[1])  # type: ignore[arg-type]
    client, sub = consume(env, "/queue/limited.c")
    assert client.last().redelivery_count == 2
    env.broker.nack(sub, client.last().message_id)  # type: ignore[arg-type]
    env.settle()
    assert env.broker.queue_depths()["/queue/ActiveMQ.DLQ"] == 1, "the limit of 2 was already used up"


# -- expiry -------------------------------------------------------------------------------------


def test_expired_persistent_message_goes_to_the_dlq_and_non_persistent_is_dropped(
    loop: asyncio.AbstractEventLoop,
) -> None:
    env = CoreEnv(loop)
    soon = env.clock.ms() + 300
    env.send("persistent", expires=soon)
    env.send("non-persistent", persistent=False, expires=soon)
    env.send("live", expires=env.clock.ms() + 60_000)
    env.advance(0.5)
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.settle()
    assert client.bodies() == [b"live"]
    dead = dead_letters(env).last()
    assert dead.body == b"persistent"
    assert dead.expires == 0
    assert dead.headers["originalExpiration"] == str(soon)
    assert dead.headers["dlqDeliveryFailureCause"] == f"java.lang.Throwable: Message Expired. Expiration:{soon}"


def test_message_expiring_while_waiting_for_a_consumer_is_not_delivered(loop: asyncio.AbstractEventLoop) -> None:
    env = CoreEnv(loop)
    busy = FakeClient()
    env.broker.subscribe(busy, "s", "/queue/a", AckMode.CLIENT_INDIVIDUAL, prefetch=1)
    env.send("first")
    env.send("short-lived", expires=env.clock.ms() + 100)
    env.settle()
    env.advance(0.2)
    assert busy.bodies() == [b"first"]
    assert env.broker.queue_depths()["/queue/ActiveMQ.DLQ"] == 1


def test_expiry_without_the_sweep_happens_at_dispatch(loop: asyncio.AbstractEventLoop) -> None:
    env = CoreEnv(loop, CoreSettings(policies=PolicyMap(PatternMap(default=PolicyEntry(expire_messages_period_ms=0)))))
    env.send("stale", expires=env.clock.ms() + 100)
    env.advance(1)
    assert env.broker.queue_depths()["/queue/a"] == 1, "expireMessagesPeriod=0: no periodic expiry"
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.settle()
    assert client.received == []
    assert env.broker.queue_depths()["/queue/ActiveMQ.DLQ"] == 1


def test_process_expired_false_drops_expired_messages(loop: asyncio.AbstractEventLoop) -> None:
    policy = PolicyEntry(dead_letter=DeadLetterStrategy(process_expired=False))
    env = CoreEnv(loop, CoreSettings(policies=PolicyMap(PatternMap(default=policy))))
    env.send("stale", expires=env.clock.ms() + 100)
    env.advance(1)
    assert env.broker.queue_depths() == {"/queue/a": 0}


def test_scheduled_delivery(loop: asyncio.AbstractEventLoop) -> None:
    env = CoreEnv(loop, CoreSettings(scheduler_support=True))
    client = FakeClient()
    env.broker.subscribe(client, "s", "/queue/a", AckMode.AUTO)
    env.send("later", deliver_at=env.clock.ms() + 2000)
    env.send("now")
    env.settle()
    assert client.bodies() == [b"now"]
    env.advance(2.1)
    assert client.bodies() == [b"now", b"later"]
