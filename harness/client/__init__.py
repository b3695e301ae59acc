"""Failover STOMP client: ActiveMQ ``failover:`` URIs, reconnect with back-off, resubscribe, resend.

Built on stomp.py (one stomp.py connection per attempt); see failover.FailoverConnection. For
conformance scenarios, plain.PlainStompConnection speaks STOMP byte by byte to one broker.
"""

from harness.client.errors import (
    AckFailed,
    BrokerError,
    ClientError,
    ConnectFailed,
    ConnectionLost,
    FailoverUriError,
    ReceiptTimeout,
    SendFailed,
    SendTimeout,
    StaleDelivery,
    TransportFailure,
)
from harness.client.failover import FailoverConnection
from harness.client.listener import FailoverListener
from harness.client.records import ClientSubscription, Delivery, ErrorFrame, SendResult
from harness.client.uri import Endpoint, FailoverOptions, FailoverUri, parse_failover_uri

__all__ = [
    "AckFailed",
    "BrokerError",
    "ClientError",
    "ClientSubscription",
    "ConnectFailed",
    "ConnectionLost",
    "Delivery",
    "Endpoint",
    "ErrorFrame",
    "FailoverConnection",
    "FailoverListener",
    "FailoverOptions",
    "FailoverUri",
    "FailoverUriError",
    "ReceiptTimeout",
    "SendFailed",
    "SendResult",
    "SendTimeout",
    "StaleDelivery",
    "TransportFailure",
    "parse_failover_uri",
]
