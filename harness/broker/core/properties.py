"""How a message looks to a selector: ActiveMQ's JMS identifiers, and which STOMP headers are properties.

ActiveMQ maps some SEND headers onto JMS message fields (``priority`` -> JMSPriority, ``type`` ->
JMSType, ...); those are not properties, so a selector reads them only through their JMS names.
Every other header is a string property of the same name.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.broker.core.selector import DestinationValue, JLong, Resolve
from harness.broker.message import Message, qualified_name

# SEND headers that become JMS fields (or are protocol) rather than properties.
NON_PROPERTY_HEADERS = frozenset(
    {
        "destination",
        "correlation-id",
        "expires",
        "priority",
        "type",
        "reply-to",
        "persistent",
        "timestamp",
        "JMSXGroupID",
        "JMSXGroupSeq",
    }
)


def _reply_to(message: Message) -> object:
    reply_to = message.headers.get("reply-to")
    if reply_to is None:
        return None
    if reply_to.startswith("/"):
        return qualified_name(reply_to)
    return reply_to


_JMS_IDENTIFIERS: dict[str, Callable[[Message], object]] = {
    "JMSDestination": lambda m: DestinationValue(qualified_name(m.destination)),
    "JMSReplyTo": _reply_to,
    "JMSType": lambda m: m.headers.get("type"),
    "JMSDeliveryMode": lambda m: "PERSISTENT" if m.persistent else "NON_PERSISTENT",
    "JMSPriority": lambda m: m.priority,
    "JMSMessageID": lambda m: m.message_id,
    "JMSTimestamp": lambda m: JLong(m.timestamp),
    "JMSCorrelationID": lambda m: m.headers.get("correlation-id"),
    "JMSExpiration": lambda m: JLong(m.expires),
    "JMSRedelivered": lambda m: m.redelivered,
    "JMSXDeliveryCount": lambda m: m.redelivery_count + 1,
    "JMSXGroupID": lambda m: m.group_id,
    "JMSXGroupSeq": lambda m: m.group_seq,
    "JMSXGroupFirstForConsumer": lambda m: m.group_first,
    "JMSXUserID": lambda m: None,
}


def resolver(message: Message) -> Resolve:
    """The identifier lookup a selector evaluates against."""

    def resolve(name: str) -> object:
        special = _JMS_IDENTIFIERS.get(name)
        if special is not None:
            return special(message)
        if name in NON_PROPERTY_HEADERS:
            return None
        return message.headers.get(name)

    return resolve
