"""Exceptions raised by the failover STOMP client.

Each says whether the outcome of the operation is known: a workload records ``fail`` for a known
failure and ``info`` (outcome unknown) for SendTimeout, ReceiptTimeout and ConnectionLost on a send.
"""

from __future__ import annotations

from collections.abc import Mapping


class ClientError(Exception):
    """Base class of every error raised by harness.client."""


class FailoverUriError(ClientError, ValueError):
    """The failover URI or one of its options is malformed."""


class TransportFailure(ClientError):
    """One broker connection failed: refused, timed out, closed, heartbeat timeout, ERROR on CONNECT.

    Passed to ``transport_interrupted``; the failover client recovers from it by itself.
    """


class ConnectFailed(ClientError):
    """connect() gave up: startupMaxReconnectAttempts passes failed, or its timeout elapsed."""


class ConnectionLost(ClientError):
    """No connection and none coming: reconnect attempts exhausted, or the client was disconnected.

    For a send that was already transmitted the outcome is unknown (the broker may have stored it).
    """


class ReceiptTimeout(ClientError, TimeoutError):
    """No RECEIPT within the timeout. Outcome unknown; the connection stays up."""


class SendTimeout(ReceiptTimeout):
    """A send got no RECEIPT within the timeout (URI option ``timeout`` or the argument).

    Outcome unknown: the message may still be stored. The send is no longer resent after failover.
    """


class StaleDelivery(ClientError):
    """An ack or nack for a delivery whose connection is gone (or went before the RECEIPT came).

    The delivery's ack id means nothing to another connection; the broker that delivered it will
    redeliver the message unless the ack reached it. Outcome unknown.
    """


class BrokerError(ClientError):
    """The broker answered an operation with an ERROR frame."""

    def __init__(self, message: str, headers: Mapping[str, str] | None = None, body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})
        self.body = body


class SendFailed(BrokerError):
    """The broker answered a send's receipt with an ERROR frame: the message was not accepted."""


class AckFailed(BrokerError):
    """The broker answered an ack or nack with an ERROR frame."""
