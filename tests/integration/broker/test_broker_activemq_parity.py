"""One activemq.xml, two vendors: pybroker and real ActiveMQ Classic start from the same file (plugins,
destination policies, connector options) and must answer the same STOMP conversations the same way.

Skipped when ActiveMQ is not installed (scripts/setup.sh installs it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from broker_procs import CONFIG, ActiveMQNode, BrokerNode, Features, RawStomp, free_port

pytestmark = pytest.mark.integration

SHARED = Features(
    broker_attributes=' schedulerSupport="true"',
    xml="""<plugins>
      <simpleAuthenticationPlugin>
        <users><authenticationUser username="app" password="pw" groups="users"/></users>
      </simpleAuthenticationPlugin>
      <redeliveryPlugin fallbackToDeadLetter="true" sendToDlqIfMaxRetriesExceeded="true">
        <redeliveryPolicyMap><redeliveryPolicyMap>
          <redeliveryPolicyEntries>
            <redeliveryPolicy queue="limited.>" maximumRedeliveries="1" initialRedeliveryDelay="1000"
                              redeliveryDelay="1000"/>
          </redeliveryPolicyEntries>
        </redeliveryPolicyMap></redeliveryPolicyMap>
      </redeliveryPlugin>
    </plugins>
    <destinationPolicy><policyMap><policyEntries>
      <policyEntry queue="prio.>" prioritizedMessages="true"/>
    </policyEntries></policyMap></destinationPolicy>""",
)
LOGIN = {"login": "app", "passcode": "pw"}
Conversation = Callable[[int], object]


@pytest.fixture(scope="module")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """Both vendors running on the same configuration; vendor name -> STOMP port."""
    workdir = tmp_path_factory.mktemp("parity")
    amq_port = free_port()
    xml = CONFIG.format(
        name="amq",
        data=workdir / "amq" / "data",
        store=workdir / "amq" / "kahadb",
        keep_alive=1000,
        interval=1000,
        port=amq_port,
        broker_attrs=SHARED.broker_attributes,
        extra=SHARED.xml,
        max_connections=SHARED.maximum_connections,
        max_frame=SHARED.max_frame_size,
    )
    (workdir / "amq").mkdir()
    activemq = ActiveMQNode(workdir / "amq", xml, amq_port)
    pybroker = BrokerNode(workdir, "py", workdir / "py-store", 1000, 1000, features=SHARED)
    try:
        pybroker.start()
        activemq.start()
        pybroker.wait_master()
        yield {"pybroker": pybroker.port, "activemq": amq_port}
    finally:
        activemq.reap()
        pybroker.reap()


def on_both(brokers: dict[str, int], conversation: Conversation) -> dict[str, object]:
    return {vendor: conversation(port) for vendor, port in brokers.items()}


def same(results: dict[str, object]) -> object:
    assert results["pybroker"] == results["activemq"], f"pybroker and ActiveMQ differ: {results}"
    return results["pybroker"]


def unique(name: str) -> str:
    return f"{name}.{time.monotonic_ns()}"


def login(port: int, **headers: str) -> RawStomp:
    conn = RawStomp(port)
    frame = conn.connect(**LOGIN, **headers)
    assert frame.command == "CONNECTED", frame
    return conn


def test_bad_credentials(brokers: dict[str, int]) -> None:
    def conversation(port: int) -> object:
        conn = RawStomp(port)
        frame = conn.connect(login="app", passcode="nope")
        return frame.command, frame.headers["message"], conn.wait_closed()

    assert same(on_both(brokers, conversation)) == ("ERROR", "User name [app] or password is invalid.", True)


@pytest.mark.parametrize(
    ("command", "headers"),
    [
        ("SEND", {}),
        ("ACK", {}),
        ("COMMIT", {"transaction": "nope"}),
        ("BEGIN", {}),
        ("UNSUBSCRIBE", {"id": "nope"}),
        ("SUBSCRIBE", {"id": "1"}),
        ("SUBSCRIBE", {"destination": "/queue/q", "id": "1", "activemq.subscriptionName": "d"}),
        ("FOO", {}),
    ],
)
def test_error_messages(brokers: dict[str, int], command: str, headers: dict[str, str]) -> None:
    def conversation(port: int) -> object:
        conn = login(port)
        conn.send(command, {**headers, "receipt": "r"})
        error = conn.wait(lambda f: f.command in ("ERROR", "RECEIPT"))
        return error.command, error.headers.get("message"), error.headers.get("receipt-id")

    assert same(on_both(brokers, conversation))[0] == "ERROR"  # type: ignore[index]


def test_redelivery_plugin_then_dead_letter(brokers: dict[str, int]) -> None:
    queue = "/queue/" + unique("limited.parity")

    def conversation(port: int) -> object:
        conn = login(port)
        conn.send("SUBSCRIBE", {"destination": queue, "id": "s", "ack": "client-individual"})
        conn.send("SEND", {"destination": queue, "persistent": "true", "receipt": "p"}, b"poison")
        conn.receipt("p")
        seen = []
        for attempt in range(2):
            message = conn.wait(lambda f, n=attempt: f.command == "MESSAGE" and len(conn.messages()) > n)
            seen.append((message.body, message.headers.get("redelivered"), message.headers.get("redeliveryDelay")))
            conn.send("NACK", {"id": message.headers["ack"], "receipt": f"n{attempt}"})
            conn.receipt(f"n{attempt}")
        conn.send(
            "SUBSCRIBE",
            {
                "destination": "/queue/ActiveMQ.DLQ",
                "id": "dlq",
                "ack": "client-individual",
                "selector": f"JMSMessageID = '{conn.messages()[0].headers['message-id']}'",
            },
        )
        dead = conn.wait(lambda f: f.headers.get("subscription") == "dlq")
        conn.send("ACK", {"id": dead.headers["ack"], "receipt": "a"})
        conn.receipt("a")
        return seen, dead.body, dead.headers["original-destination"], "redelivered" in dead.headers

    seen, body, origin, redelivered = same(on_both(brokers, conversation))  # type: ignore[misc]
    assert seen == [(b"poison", None, None), (b"poison", "true", "1000")]
    assert (body, origin, redelivered) == (b"poison", queue, False)


def test_prioritized_and_fifo_queues(brokers: dict[str, int]) -> None:
    def conversation(port: int) -> object:
        conn = login(port)
        order = {}
        for queue in ("/queue/" + unique("prio.jobs"), "/queue/" + unique("fifo")):
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
            conn.send("SUBSCRIBE", {"destination": queue, "id": queue, "ack": "auto"})
            conn.wait(
                lambda f, q=queue: (
                    f.headers.get("subscription") == q
                    and len([m for m in conn.messages() if m.headers["subscription"] == q]) == 5
                )
            )
            order[queue.split(".")[0]] = [m.body for m in conn.messages() if m.headers["subscription"] == queue]
        return order

    assert same(on_both(brokers, conversation)) == {
        "/queue/prio": [b"9", b"7", b"4", b"1", b"0"],
        "/queue/fifo": [b"1", b"9", b"4", b"0", b"7"],
    }


SELECTOR_CASES = [
    ("n > 5", {"n": "7"}),
    ("n > 5", {"n": "7.5"}),
    ("n > 5.0", {"n": "7.5"}),
    ("NOT n = 1", {"n": "2"}),
    ("NOT (n = 1)", {"n": "2"}),
    ("n + 1 = 71", {"n": "7"}),
    ("JMSPriority > 5", {"priority": "7"}),
    ("priority > 5", {"priority": "7"}),
    ("JMSType = 'x' AND JMSCorrelationID = 'c'", {"type": "x", "correlation-id": "c"}),
    ("s LIKE 'a\\_%' ESCAPE '\\'", {"s": "a_b"}),
    ("s IN ('x', 'y') AND t IS NULL", {"s": "y"}),
    ("n BETWEEN 1 AND 10", {"n": "5"}),
    ("JMSXGroupID = 'g' AND JMSXGroupSeq = 3", {"JMSXGroupID": "g", "JMSXGroupSeq": "3"}),
]


def test_selectors(brokers: dict[str, int]) -> None:
    def conversation(port: int) -> object:
        conn = login(port)
        results = []
        for i, (selector, headers) in enumerate(SELECTOR_CASES):
            queue = "/queue/" + unique(f"sel{i}")
            conn.send(
                "SUBSCRIBE",
                {"destination": queue, "id": queue, "ack": "auto", "selector": selector, "receipt": f"s{i}"},
            )
            conn.receipt(f"s{i}")
            conn.send("SEND", {"destination": queue, "receipt": f"p{i}", **headers}, b"hit")
            conn.receipt(f"p{i}")
            conn.send("SUBSCRIBE", {"destination": queue, "id": "all" + queue, "ack": "auto", "receipt": f"a{i}"})
            got = conn.wait(lambda f, q=queue: f.command == "MESSAGE" and f.headers["destination"] == q)
            results.append((selector, got.headers["subscription"] == queue))
        return results

    same(on_both(brokers, conversation))


def test_browser_end_marker(brokers: dict[str, int]) -> None:
    queue = "/queue/" + unique("browse")

    def conversation(port: int) -> object:
        conn = login(port)
        for i in range(2):
            conn.send("SEND", {"destination": queue, "persistent": "true", "receipt": f"b{i}"}, b"b%d" % i)
            conn.receipt(f"b{i}")
        conn.send("SUBSCRIBE", {"destination": queue, "id": "br", "browser": "true"})
        end = conn.wait(lambda f: f.headers.get("browser") == "end")
        return [m.body for m in conn.messages() if "browser" not in m.headers], end.headers

    bodies, end = same(on_both(brokers, conversation))  # type: ignore[misc]
    assert bodies == [b"b0", b"b1"]
    assert end == {"browser": "end", "destination": queue, "message-id": "0", "subscription": "br"}


def test_abort_keeps_acks_valid(brokers: dict[str, int]) -> None:
    queue = "/queue/" + unique("tx")

    def conversation(port: int) -> object:
        conn = login(port)
        conn.send("SUBSCRIBE", {"destination": queue, "id": "s", "ack": "client-individual"})
        conn.send("SEND", {"destination": queue, "persistent": "true", "receipt": "p"}, b"x")
        message = conn.wait(lambda f: f.command == "MESSAGE")
        conn.send("BEGIN", {"transaction": "t"})
        conn.send("ACK", {"id": message.headers["ack"], "transaction": "t"})
        conn.send("ABORT", {"transaction": "t", "receipt": "ab"})
        conn.receipt("ab")
        conn.send("ACK", {"id": message.headers["ack"], "receipt": "again"})
        reply = conn.wait(lambda f: f.headers.get("receipt-id") == "again")
        conn.collect(0.5)
        return reply.command, len(conn.messages())

    assert same(on_both(brokers, conversation)) == ("RECEIPT", 1)


def test_offline_durable_subscriber(brokers: dict[str, int]) -> None:
    topic = "/topic/" + unique("news")

    def conversation(port: int) -> object:
        client_id = unique("reader")
        durable = {"activemq.subscriptionName": "d"}
        conn = login(port, **{"client-id": client_id})
        conn.send("SUBSCRIBE", {"destination": topic, "id": "d", "receipt": "s", **durable})
        conn.receipt("s")
        conn.send("DISCONNECT", {"receipt": "bye"})
        conn.receipt("bye")
        publisher = login(port)
        publisher.send("SEND", {"destination": topic, "persistent": "true", "receipt": "p"}, b"while away")
        publisher.receipt("p")
        again = login(port, **{"client-id": client_id})
        again.send("SUBSCRIBE", {"destination": topic, "id": "d", "ack": "auto", **durable})
        return again.wait(lambda f: f.command == "MESSAGE").body

    assert same(on_both(brokers, conversation)) == b"while away"


def test_temporary_queue_reply(brokers: dict[str, int]) -> None:
    requests = "/queue/" + unique("requests")

    def conversation(port: int) -> object:
        requester = login(port)
        requester.send("SUBSCRIBE", {"destination": "/temp-queue/r", "id": "t", "ack": "auto", "receipt": "t"})
        requester.receipt("t")
        requester.send("SEND", {"destination": requests, "reply-to": "/temp-queue/r", "receipt": "q"}, b"ping")
        requester.receipt("q")
        server = login(port)
        server.send("SUBSCRIBE", {"destination": requests, "id": "s", "ack": "auto"})
        request = server.wait(lambda f: f.command == "MESSAGE")
        server.send("SEND", {"destination": request.headers["reply-to"], "receipt": "r"}, b"pong")
        server.receipt("r")
        reply = requester.wait(lambda f: f.command == "MESSAGE")
        return (
            request.headers["reply-to"].startswith("/remote-temp-queue/ID:"),
            reply.body,
            reply.headers["destination"],
        )

    assert same(on_both(brokers, conversation)) == (True, b"pong", "/temp-queue/r")
