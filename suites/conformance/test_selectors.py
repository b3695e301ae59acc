"""SQL-92 message selectors on STOMP subscriptions (header ``selector``), with SQL's NULL logic.

STOMP headers arrive as strings; ActiveMQ compares them as numbers where the selector does
(it prefixes STOMP selectors with convert_string_expressions), so ``size > 5`` works on ``size:12``.
"""

import pytest

from harness.client.plain import bodies
from harness.topology import shared_file

pytestmark = pytest.mark.topology(shared_file(nodes=1))

MESSAGES = [  # body, headers, priority
    ("red-small", {"color": "red", "size": "3"}, 2),
    ("blue-big", {"color": "blue", "size": "12"}, 7),
    ("green", {"color": "green"}, 4),
    ("no-color", {"shape": "round"}, 9),
    ("reddish", {"color": "reddish"}, 5),
]

SELECTORS = {
    "comparisons": [
        ("color = 'red'", ["red-small"]),
        ("color <> 'red'", ["blue-big", "green", "reddish"]),  # NULL <> 'red' is unknown: no-color is out
        ("JMSPriority > 4", ["blue-big", "no-color", "reddish"]),
        ("size > 5", ["blue-big"]),
    ],
    "and-or-not": [
        ("JMSPriority >= 4 AND color IS NOT NULL", ["blue-big", "green", "reddish"]),
        ("color = 'red' OR JMSPriority = 9", ["red-small", "no-color"]),
        ("NOT (color = 'red')", ["blue-big", "green", "reddish"]),
    ],
    "in": [
        ("color IN ('red', 'blue')", ["red-small", "blue-big"]),
        ("color NOT IN ('red', 'blue')", ["green", "reddish"]),
    ],
    "like": [
        ("color LIKE 'red%'", ["red-small", "reddish"]),
        ("color LIKE 'r_d'", ["red-small"]),
        ("color NOT LIKE 'red%'", ["blue-big", "green"]),
    ],
    "between": [
        ("JMSPriority BETWEEN 3 AND 5", ["green", "reddish"]),
        ("JMSPriority NOT BETWEEN 3 AND 5", ["red-small", "blue-big", "no-color"]),
        ("size BETWEEN 1 AND 5", ["red-small"]),
    ],
    "is-null": [
        ("color IS NULL", ["no-color"]),
        ("size IS NOT NULL", ["red-small", "blue-big"]),
    ],
}


@pytest.mark.parametrize("kind", list(SELECTORS))
def test_a_selector_delivers_exactly_the_matching_messages(stomp, kind):
    producer = stomp.connect()
    for n, (selector, expected) in enumerate(SELECTORS[kind]):
        queue = f"/queue/catalogue.{n}"
        for body, headers, priority in MESSAGES:
            producer.send(queue, body, {**headers, "priority": str(priority)})
        consumer = stomp.connect()
        consumer.subscribe(queue, headers={"selector": selector})
        got = bodies(consumer.drain())
        assert got == expected, f"selector {selector!r}: expected {expected}, got {got}"


def test_an_invalid_selector_is_refused(stomp):
    conn = stomp.connect()
    reply = conn.exchange("SUBSCRIBE", {"destination": "/queue/catalogue", "id": "s", "selector": "color = = 'x'"})
    assert reply.command == "ERROR" and reply.headers.get("message"), f"a broken selector was accepted: {reply}"
