"""The store contract: what the broker core asks a store to persist, and what a store promises.

The core hands a store batches of operations (``Op``) in the order it accepted them; ``append``
returns a future that resolves once the batch is durable and the fence check passed, and fails with
``StoreError`` (the write failed) or ``Fenced`` (this node is no longer master) otherwise, so that
nothing is confirmed to a client before it is safe. ``StoreLimits`` says what a store can hold, so
the core refuses the rest before accepting it.

Every store (the journal, the JDBC store) implements this module; the core depends on it alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from harness.broker.message import Message

# Records a broker keeps beside its messages, stored as messages (AddOp, RemoveOp) in containers no
# destination can name: every store then keeps, compacts and replicates them with the messages, and
# a record written in the same batch as a message's removal is as atomic as the batch.
RECORD_CONTAINER_PREFIX = "pybroker:"
# A tombstone: the message of this id left the store over a bridge to the store named by its
# RECEIVER_HEADER (a network's RESOLVE is answered from it). Body empty.
FORWARDED_CONTAINER = "pybroker:forwarded"
RECEIVER_HEADER = "receiver"
# The store's identity, one record (id STORE_ID_RECORD, header STORE_ID_HEADER): the same for every
# node that serves the store, so that other brokers address what they hold from it to the store.
STORE_ID_CONTAINER = "pybroker:store"
STORE_ID_RECORD = "store-identity"
STORE_ID_HEADER = "id"


def is_record_container(container: str) -> bool:
    return container.startswith(RECORD_CONTAINER_PREFIX)


@dataclass(frozen=True, slots=True)
class AddOp:
    """Store a message in ``message.container`` (a queue name, or a durable subscription key)."""

    message: Message


@dataclass(frozen=True, slots=True)
class RemoveOp:
    """Remove a message from a container ("" = wherever the id is: the first journal format)."""

    message_id: str
    container: str = ""


@dataclass(frozen=True, slots=True)
class DurableSubscriptionRecord:
    """A durable topic subscription: ``key`` names its container."""

    key: str
    client_id: str
    name: str
    destination: str
    selector: str | None = None
    no_local: bool = False


@dataclass(frozen=True, slots=True)
class SubscribeOp:
    record: DurableSubscriptionRecord


@dataclass(frozen=True, slots=True)
class UnsubscribeOp:
    key: str


@dataclass(frozen=True, slots=True)
class CheckpointOp:
    """Marks the end of a complete snapshot at the start of a term's first segment."""


Op = AddOp | RemoveOp | SubscribeOp | UnsubscribeOp | CheckpointOp


class StoreError(Exception):
    """Writing failed; nothing in the failed batch may be confirmed."""


class Fenced(Exception):
    """This node is no longer master: nothing may be confirmed."""


class Store(Protocol):
    """What the core needs of a store: batches of operations persisted in order, confirmed by the future."""

    def append(self, ops: Iterable[Op]) -> asyncio.Future[None]: ...


@dataclass(frozen=True)
class StoreLimits:
    """What a store can hold, checked before a message or subscription is accepted (never after)."""

    max_queue_name_length: int | None = None  # without the /queue/ prefix; None: no limit
    durable_subscriptions: bool = True
    store_name: str = "the store"  # names the store in refusals


UNLIMITED = StoreLimits()


class MessageStore(Store, Protocol):
    """A master term's store (the journal or the JDBC store) as the server drives it."""

    async def flush(self) -> None: ...

    async def close(self) -> None: ...
