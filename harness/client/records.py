"""Plain data the client hands to its callers: deliveries, send results, subscriptions, ERROR frames."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClientSubscription:
    """An active subscription, remade with the same id, destination, ack mode and headers on failover."""

    id: str
    destination: str
    ack: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One MESSAGE frame as a subscription handler sees it.

    ``ack_id`` is what an ACK or NACK must name for the connection's protocol version (1.2: the
    MESSAGE's ``ack`` header; 1.0/1.1: its ``message-id``). ``generation`` numbers the underlying
    connection: after a failover older deliveries can no longer be acked (StaleDelivery).
    """

    headers: Mapping[str, str]
    body: bytes
    message_id: str
    ack_id: str
    redelivered: bool
    endpoint: str
    subscription: str
    destination: str
    generation: int

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class SendResult:
    """A send confirmed by a RECEIPT: which broker confirmed it, and how often it was transmitted.

    ``transmissions`` > 1 means the send was resent after a failover; each transmission is a new
    message to the broker that got it, so the history may show duplicates.
    """

    receipt_id: str
    endpoint: str
    transmissions: int

    @property
    def resent(self) -> bool:
        return self.transmissions > 1


@dataclass(frozen=True)
class ErrorFrame:
    """An ERROR frame from a broker."""

    endpoint: str
    message: str
    headers: Mapping[str, str]
    body: str
