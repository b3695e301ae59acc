"""ActiveMQ features of a real pybroker process, configured from activemq.xml: durable subscriptions
across kill -9 and failover, the redelivery plugin, authentication, connector limits, expiry,
prioritized messages, and bad input that must close one connection and lose nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from broker_procs import SLAVE_LINE, BrokerNode, Client, Features, RawStomp

pytestmark = pytest.mark.integration

Nodes = Callable[..., BrokerNode]
Clients = Callable[..., Client]

REDELIVERY = Features(
    broker_attributes=' schedulerSupport="true"',
    xml="""<plugins>
      <redeliveryPlugin fallbackToDeadLetter="true" sendToDlqIfMaxRetriesExceeded="true">
        <redeliveryPolicyMap><redeliveryPolicyMap>
          <redeliveryPolicyEntries>
            <redeliveryPolicy queue="limited.>" maximumRedeliveries="1" initialRedeliveryDelay="1000"
                              redeliveryDelay="1000"/>
          </redeliveryPolicyEntries>
        </redeliveryPolicyMap></redeliveryPolicyMap>
      </redeliveryPlugin>
    </plugins>""",
)

AUTH = Features(
    xml="""<plugins><simpleAuthenticationPlugin><users>
      <authenticationUser username="admin" password="secret" groups="admins,users"/>
    </users></simpleAuthenticationPlugin></plugins>"""
)

PRIORITY = Features(
    xml="""<destinationPolicy><policyMap><policyEntries>
      <policyEntry queue="prio.>" prioritizedMessages="true"/>
    </policyEntries></policyMap></destinationPolicy>"""
)


def connected(port: int, **headers: str) -> RawStomp:
    conn = RawStomp(port)
    frame = conn.connect(**headers)
    assert frame.command == "CONNECTED", f"CONNECT refused: {frame}"
    return conn


def test_durable_subscription_messages_survive_kill9_and_failover(nodes: Nodes) -> None:
    master = nodes("node1").start()
    master.wait_master()
    slave = nodes("node2").start()
    slave.wait_log(SLAVE_LINE)
    durable = {"activemq.subscriptionName": "audit"}
    subscriber = connected(master.port, **{"client-id": "auditor"})
    subscriber.send(
        "SUBSCRIBE",
        {"destination": "/topic/events", "id": "d", "ack": "client-individual", "receipt": "sub", **durable},
    )
    subscriber.receipt("sub")
    subscriber.send("DISCONNECT", {"receipt": "bye"})
    subscriber.receipt("bye")
    publisher = connected(master.port)
    for i in range(20):
        publisher.send("SEND", {"destination": "/topic/events", "persistent": "true", "receipt": f"p{i}"}, b"e%d" % i)
    for i in range(20):
        publisher.receipt(f"p{i}")
    publisher.send("SEND", {"destination": "/topic/events", "receipt": "np"}, b"non-persistent")
    publisher.receipt("np")
    master.kill9()

    slave.wait_master(timeout=15)
    assert "Recovered 1 durable topic subscription(s)" in slave.log()
    subscriber = connected(slave.port, **{"client-id": "auditor"})
    subscriber.send("SUBSCRIBE", {"destination": "/topic/events", "id": "d", "ack": "client-individual", **durable})
    subscriber.wait(lambda f: f.body == b"e19")
    bodies = [m.body for m in subscriber.messages()]
    assert bodies == [b"e%d" % i for i in range(20)], "persistent messages for the offline subscriber were kept"
    for message in subscriber.messages()[:10]:
        subscriber.send("ACK", {"id": message.headers["ack"], "receipt": "a" + message.headers["ack"]})
    subscriber.receipt("a" + subscriber.messages()[9].headers["ack"])

    slave.kill9()
    slave.start()
    slave.wait_log(r"is now master \(epoch 3\)")
    again = connected(slave.port, **{"client-id": "auditor"})
    again.send("SUBSCRIBE", {"destination": "/topic/events", "id": "d", "ack": "auto", **durable})
    again.wait(lambda f: f.body == b"e19")
    assert [m.body for m in again.messages()] == [b"e%d" % i for i in range(10, 20)], "acked ones stay acked"


def test_redelivery_plugin_from_activemq_xml(nodes: Nodes) -> None:
    node = nodes("redeliver", features=REDELIVERY).start()
    node.wait_master()
    assert "Broker-side redelivery: redeliveryPlugin" in node.log()
    conn = connected(node.port)
    conn.send("SUBSCRIBE", {"destination": "/queue/limited.work", "id": "s", "ack": "client-individual"})
    conn.send("SEND", {"destination": "/queue/limited.work", "persistent": "true", "receipt": "p"}, b"poison")
    conn.receipt("p")
    first = conn.wait(lambda f: f.command == "MESSAGE")
    nacked = time.monotonic()
    conn.send("NACK", {"id": first.headers["ack"], "receipt": "n1"})
    conn.receipt("n1")
    second = conn.wait(lambda f: f.command == "MESSAGE" and f is not first)
    assert time.monotonic() - nacked >= 0.9, "redelivered only after initialRedeliveryDelay"
    assert second.headers["redelivered"] == "true" and second.headers["redeliveryDelay"] == "1000"
    conn.send("NACK", {"id": second.headers["ack"], "receipt": "n2"})
    conn.receipt("n2")
    conn.send("SUBSCRIBE", {"destination": "/queue/ActiveMQ.DLQ", "id": "dlq", "ack": "auto"})
    dead = conn.wait(lambda f: f.headers.get("subscription") == "dlq")
    assert dead.body == b"poison" and dead.headers["original-destination"] == "/queue/limited.work"


def test_a_scheduled_redelivery_survives_kill9(nodes: Nodes) -> None:
    node = nodes("redeliver", features=REDELIVERY).start()
    node.wait_master()
    conn = connected(node.port)
    conn.send("SUBSCRIBE", {"destination": "/queue/limited.x", "id": "s", "ack": "client-individual"})
    conn.send("SEND", {"destination": "/queue/limited.x", "persistent": "true", "receipt": "p"}, b"retry me")
    conn.receipt("p")
    message = conn.wait(lambda f: f.command == "MESSAGE")
    conn.send("NACK", {"id": message.headers["ack"], "receipt": "n"})
    conn.receipt("n")
    node.kill9()
    node.start()
    node.wait_log(r"is now master \(epoch 2\)")
    again = connected(node.port)
    again.send("SUBSCRIBE", {"destination": "/queue/limited.x", "id": "s", "ack": "client-individual"})
    back = again.wait(lambda f: f.command == "MESSAGE")
    assert back.body == b"retry me" and back.headers["redelivered"] == "true"
    assert back.headers["message-id"] == message.headers["message-id"]


def test_authentication_from_activemq_xml(nodes: Nodes) -> None:
    node = nodes("secure", features=AUTH).start()
    node.wait_master()
    refused = RawStomp(node.port)
    error = refused.connect(login="admin", passcode="wrong")
    assert (error.command, error.headers["message"]) == ("ERROR", "User name [admin] or password is invalid.")
    assert refused.wait_closed()
    connected(node.port, login="admin", passcode="secret").close()


def test_connector_limits_answer_with_errors(nodes: Nodes) -> None:
    node = nodes("limits", features=Features(maximum_connections=2, max_frame_size=1000)).start()
    node.wait_master()
    first, second = connected(node.port), connected(node.port)
    third = RawStomp(node.port)
    error = third.wait(lambda f: f.command == "ERROR")
    assert "Exceeded the maximum number of allowed client connections" in error.headers["message"]
    assert third.wait_closed()
    first.send("SEND", {"destination": "/queue/big", "persistent": "true"}, b"x" * 2000)
    assert "The maximum frame size was exceeded" in first.wait(lambda f: f.command == "ERROR").headers["message"]
    assert first.wait_closed()
    second.send("SEND", {"destination": "/queue/big", "persistent": "true", "receipt": "ok"}, b"small")
    second.receipt("ok")


def test_bad_input_closes_one_connection_and_loses_nothing(nodes: Nodes, clients: Clients) -> None:
    node = nodes("robust").start()
    node.wait_master()
    producer = clients(node.port)
    for i in range(10):
        assert producer.send("/queue/robust", f"m{i}")
    garbage = RawStomp(node.port)
    garbage.connect()
    garbage.raw(b"NOT A FRAME\n\n\x00")
    assert "Unknown STOMP action: NOT A FRAME" in garbage.wait(lambda f: f.command == "ERROR").headers["message"]
    assert garbage.wait_closed()
    broken = RawStomp(node.port)
    broken.connect()
    broken.raw(b"SEND\ndestination:/queue/robust\ncontent-length:50\n\nonly part of the bo")
    broken.close()  # abrupt disconnect in the middle of a frame
    consumer = RawStomp(node.port)
    consumer.connect()
    consumer.send("SUBSCRIBE", {"destination": "/queue/robust", "id": "s", "ack": "client-individual"})
    consumer.wait(lambda f: f.body == b"m9")
    consumer.raw(b"ACK\nid:")  # and a consumer that dies mid-ACK
    consumer.close()
    for i in range(10, 15):
        assert producer.send("/queue/robust", f"m{i}")
    assert clients(node.port).drain("/queue/robust") == [f"m{i}" for i in range(15)]
    assert node.proc is not None and node.proc.poll() is None


def test_expired_persistent_message_goes_to_the_dlq(nodes: Nodes) -> None:
    node = nodes("expiry").start()
    node.wait_master()
    conn = connected(node.port)
    expires = str(int(time.time() * 1000) + 300)
    conn.send("SEND", {"destination": "/queue/short", "persistent": "true", "expires": expires, "receipt": "p"}, b"x")
    conn.send("SEND", {"destination": "/queue/short", "expires": expires, "receipt": "n"}, b"dropped")
    conn.receipt("n")
    time.sleep(0.6)
    conn.send("SUBSCRIBE", {"destination": "/queue/ActiveMQ.DLQ", "id": "dlq", "ack": "auto"})
    dead = conn.wait(lambda f: f.command == "MESSAGE")
    assert dead.body == b"x" and dead.headers["originalExpiration"] == expires
    conn.send("SUBSCRIBE", {"destination": "/queue/short", "id": "s", "ack": "auto", "receipt": "s"})
    conn.receipt("s")
    assert [m.body for m in conn.collect(0.5) if m.command == "MESSAGE"] == [b"x"], "nothing left on the queue"


def test_prioritized_messages_policy(nodes: Nodes) -> None:
    node = nodes("prio", features=PRIORITY).start()
    node.wait_master()
    conn = connected(node.port)
    for queue in ("/queue/prio.jobs", "/queue/plain"):
        for priority in (1, 9, 4, 0, 7):
            conn.send(
                "SEND",
                {
                    "destination": queue,
                    "priority": str(priority),
                    "persistent": "true",
                    "receipt": f"{queue}{priority}",
                },
                b"%d" % priority,
            )
            conn.receipt(f"{queue}{priority}")
    conn.send("SUBSCRIBE", {"destination": "/queue/prio.jobs", "id": "p", "ack": "auto"})
    conn.send("SUBSCRIBE", {"destination": "/queue/plain", "id": "f", "ack": "auto"})
    conn.collect(1.0)
    by_sub = {sub: [m.body for m in conn.messages() if m.headers["subscription"] == sub] for sub in ("p", "f")}
    assert by_sub["p"] == [b"9", b"7", b"4", b"1", b"0"]
    assert by_sub["f"] == [b"1", b"9", b"4", b"0", b"7"]
