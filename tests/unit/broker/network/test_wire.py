"""The inter-broker frames: a message crosses a bridge with its id, its headers and its broker path."""

from __future__ import annotations

import pytest

from harness.broker.message import BROKER_PATH_HEADER, Message
from harness.broker.network.routing import Demand
from harness.broker.network.wire import demand_body, forward_frame, forwarded_message, parse_demand
from harness.broker.stomp.frames import V1_2, FrameParser


def test_a_forwarded_message_keeps_its_id_headers_and_body_and_gains_the_path() -> None:
    msg = Message(
        "ID:a-1-7",
        "/queue/q",
        {"seq": "12", "odd:name": "line\nbreak"},
        b"\x00body",
        True,
        priority=7,
        expires=99,
        timestamp=5,
        group_id="g",
        group_seq=3,
    )
    [frame] = FrameParser(V1_2).feed(forward_frame(msg, "a", sent_ms=1234))
    got = forwarded_message(frame, BROKER_PATH_HEADER)
    assert (got.message_id, got.destination, got.body, got.persistent) == ("ID:a-1-7", "/queue/q", b"\x00body", True)
    assert (got.priority, got.expires, got.timestamp, got.group_id, got.group_seq) == (7, 99, 5, "g", 3)
    assert got.headers == {"seq": "12", "odd:name": "line\nbreak", BROKER_PATH_HEADER: "a"}
    assert frame.headers["sent"] == "1234"


def test_demand_round_trips_and_garbage_is_refused() -> None:
    demand = {"/queue/q": Demand(1, 2, ("c", "b"))}
    assert parse_demand(demand_body(demand)) == demand
    with pytest.raises(ValueError, match="malformed DEMAND"):
        parse_demand(b'{"/queue/q": 3}')
