"""What activemq.xml allows: users of the simple authentication plugin, and the connector's limits."""

import pytest

from harness.client.plain import ErrorReply, PeerClosed
from harness.topology import BrokerSettings, ConnectorLimits, SimpleAuthentication, User, shared_file

WITH_USERS = shared_file(nodes=1, broker=BrokerSettings(authentication=SimpleAuthentication((User("app", "s3cret"),))))
THREE_CONNECTIONS = shared_file(nodes=1, broker=BrokerSettings(connector=ConnectorLimits(maximum_connections=3)))
SMALL_FRAMES = shared_file(nodes=1, broker=BrokerSettings(connector=ConnectorLimits(max_frame_size=4096)))


@pytest.mark.topology(WITH_USERS)
def test_a_known_user_connects_and_anyone_else_gets_an_error(stomp):
    assert stomp.connect(login="app", passcode="s3cret").connected.command == "CONNECTED"
    for login, passcode in [("app", "wrong"), ("intruder", "s3cret"), (None, None)]:
        conn = stomp.open()
        # A broker that writes ERROR and closes at once may reset the socket, and a reset discards the
        # ERROR still unread on the client's side: a close is a refusal too.
        with pytest.raises((ErrorReply, PeerClosed)) as refused:
            conn.connect(login=login, passcode=passcode)
        if isinstance(refused.value, ErrorReply):
            assert refused.value.frame.headers.get("message"), f"{login}/{passcode}: ERROR without a message"
        assert conn.wait_closed(5), f"{login}/{passcode}: the refused connection stayed open"


@pytest.mark.topology(THREE_CONNECTIONS)
def test_connections_beyond_maximum_connections_are_closed(stomp):
    admitted = [stomp.connect_when_admitted() for _ in range(3)]
    extra = stomp.open()
    with pytest.raises((PeerClosed, ErrorReply)):  # ActiveMQ closes at once; an ERROR saying why may come first
        extra.connect()
    assert extra.wait_closed(5), "the connection over the limit stayed open"
    admitted[0].disconnect()
    assert stomp.connect_when_admitted().connected.command == "CONNECTED", "a freed slot must admit a connection"
    assert all(conn.send("/queue/limits", "still served") for conn in admitted[1:])


OVERSIZED = {"body": ({}, "x" * 5000), "header": ({"padding": "y" * 5000}, "x")}  # over 4096 bytes


@pytest.mark.topology(SMALL_FRAMES)
@pytest.mark.parametrize("part", list(OVERSIZED))
def test_a_frame_over_max_frame_size_gets_an_error_and_closes(stomp, part):
    big, bystander = stomp.connect(), stomp.connect()
    assert big.send("/queue/limits", "x" * 3000), "a frame under the limit must pass"
    headers, body = OVERSIZED[part]
    reply = big.exchange("SEND", {"destination": "/queue/limits", "content-length": str(len(body)), **headers}, body)
    assert reply.command == "ERROR" and reply.headers.get("message"), f"an oversized {part} was accepted: {reply}"
    assert big.wait_closed(5), "the connection stayed open after an oversized frame"
    assert bystander.send("/queue/limits", "other connections are still served")
