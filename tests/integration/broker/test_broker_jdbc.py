"""JDBC master/slave with real brokers on real PostgreSQL and MariaDB servers.

Persistence across restarts, slave mode, takeover after kill -9 with both lockers, and the lease
locker's fencing: a master paused for longer than its lease confirms nothing when it resumes, and a
renewal period longer than the lease (ActiveMQ's unsafe default) never gives two masters.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from broker_procs import BrokerNode, Client, RawStomp, stomp_connects, wait_until
from jdbc_nodes import OUTAGE_LINE, SLAVE_LINE, STEP_DOWN_LINE, JdbcSettings, jdbc_renderer

from harness.services.database import DatabaseRef

pytestmark = pytest.mark.integration

Nodes = Callable[..., BrokerNode]
Clients = Callable[..., Client]
LOCKERS = ["database-locker", "lease-database-locker"]
MASTER_LINE = r"Broker node1 is now master \(epoch \d+\)"


def jdbc_node(nodes: Nodes, name: str, database: DatabaseRef, settings: JdbcSettings) -> BrokerNode:
    return nodes(name, render=jdbc_renderer(database, settings))


def start_pair(nodes: Nodes, database: DatabaseRef, settings: JdbcSettings) -> tuple[BrokerNode, BrokerNode]:
    master = jdbc_node(nodes, "node1", database, settings).start()
    master.wait_master(timeout=20)
    slave = jdbc_node(nodes, "node2", database, settings).start()
    slave.wait_log(SLAVE_LINE, timeout=20)
    return master, slave


def test_persistent_messages_survive_restarts(nodes: Nodes, clients: Clients, database: DatabaseRef) -> None:
    node = jdbc_node(nodes, "node1", database, JdbcSettings()).start()
    node.wait_master(timeout=20)
    producer = clients(node.port)
    for i in range(30):
        assert producer.send("/queue/restart", f"m{i}")
    for i in range(5):
        assert producer.send("/queue/restart", f"transient{i}", persistent=False)
    consumer = clients(node.port)
    consumer.subscribe("/queue/restart", ack="client-individual")
    delivered = consumer.wait_messages(35)
    for headers, _body in delivered[:10]:
        consumer.ack(headers)  # m0..m9 are consumed; the rest stays unacknowledged
    consumer.close()
    producer.close()

    rows = database.query("SELECT CONTAINER, COUNT(*) FROM ACTIVEMQ_MSGS GROUP BY CONTAINER")
    assert rows == [("queue://restart", 20)], f"expected the 20 unacknowledged persistent messages as rows: {rows}"
    columns = database.query(
        "SELECT ID, CONTAINER, MSGID_PROD, MSGID_SEQ, EXPIRATION, MSG, PRIORITY, XID FROM ACTIVEMQ_MSGS WHERE 1 = 0"
    )
    assert columns == []
    assert database.query("SELECT ID FROM ACTIVEMQ_LOCK WHERE ID = 1") == [(1,)]

    assert node.terminate() == 0
    node.start()
    node.wait_log(MASTER_LINE, timeout=20, count=2)
    producer = clients(node.port)
    for i in range(30, 40):
        assert producer.send("/queue/restart", f"m{i}")
    node.kill9()  # no graceful shutdown this time: every receipted message is a committed row
    node.start()
    node.wait_log(MASTER_LINE, timeout=20, count=3)
    assert clients(node.port).drain("/queue/restart") == [f"m{i}" for i in range(10, 40)]
    assert database.query("SELECT COUNT(*) FROM ACTIVEMQ_MSGS") == [(0,)]


@pytest.mark.parametrize("locker", LOCKERS)
def test_slave_waits_and_takes_over_after_kill9(
    nodes: Nodes, clients: Clients, database: DatabaseRef, locker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = JdbcSettings(locker=locker, interval=1000, keep_alive=300)
    master, slave = start_pair(nodes, database, settings)
    time.sleep(0.5)
    assert master.accepting()
    assert not slave.accepting(), "a slave opens no connector"
    assert slave.count(SLAVE_LINE) == 1
    producer = clients(master.port)
    for i in range(50):
        assert producer.send("/queue/ha", f"m{i}")

    killed = time.monotonic()
    master.kill9()
    wait_until(lambda: stomp_connects(slave.port), 15.0, "CONNECTED from the new master", step=0.005)
    takeover = time.monotonic() - killed
    with capsys.disabled():
        print(
            f"\npybroker JDBC {database.kind} {locker}: takeover after kill -9 of the master: {takeover * 1000:.0f} ms"
        )
    # The lease locker waits for the dead master's lease (1000 ms) to run out; the database locker
    # only for the database to end the dead master's transaction.
    assert takeover < 5.0
    assert clients(slave.port).drain("/queue/ha") == [f"m{i}" for i in range(50)]

    master.start()  # the old master comes back as a slave
    master.wait_log(SLAVE_LINE, timeout=20)
    assert not master.accepting()


def test_paused_lease_master_confirms_nothing_after_resuming(
    nodes: Nodes, clients: Clients, database: DatabaseRef
) -> None:
    settings = JdbcSettings(locker="lease-database-locker", interval=1000, keep_alive=300)
    master, slave = start_pair(nodes, database, settings)
    producer = clients(master.port)
    for i in range(10):
        assert producer.send("/queue/pause", f"before{i}")

    master.pause()  # longer than the lease: the slave takes over while the master is frozen
    slave.wait_master(timeout=10)
    receipts = [producer.send_async("/queue/pause", f"during{i}") for i in range(5)]
    probe = socket.create_connection(("127.0.0.1", master.port), timeout=5)  # accepted by the kernel's backlog
    probe.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
    master.resume()

    master.wait_log(STEP_DOWN_LINE, timeout=10)
    assert "the lease may have expired" in master.log() or "a write found another master" in master.log()
    time.sleep(1.0)
    confirmed = [r for r in receipts if r in producer.receipts]
    assert confirmed == [], f"the resumed master confirmed {confirmed} after another master took over"
    probe.settimeout(2.0)
    try:
        reply = probe.recv(4096)
    except (TimeoutError, ConnectionError):
        reply = b""
    finally:
        probe.close()
    assert not reply.startswith(b"CONNECTED"), "the resumed master accepted a client after losing its lease"
    wait_until(lambda: not master.accepting(), 5, "the old master's connector to close")
    master.wait_log(SLAVE_LINE, timeout=10)  # back to slave mode (it started as master)

    drained = clients(slave.port).drain("/queue/pause")
    assert drained == [f"before{i}" for i in range(10)], "nothing sent to the paused master was committed"


def test_lease_renewal_longer_than_the_lease_never_gives_two_masters(nodes: Nodes, database: DatabaseRef) -> None:
    # ActiveMQ with these settings renews every 3 s a lease of 1 s: the slave becomes master too.
    settings = JdbcSettings(locker="lease-database-locker", interval=1000, keep_alive=3000)
    master, slave = start_pair(nodes, database, settings)
    assert "would let the 1000 ms lease lapse" in master.log()
    deadline = time.monotonic() + 5.0
    both = 0
    while time.monotonic() < deadline:
        if stomp_connects(master.port, 0.5) and stomp_connects(slave.port, 0.5):
            both += 1
        time.sleep(0.05)
    assert both == 0, f"two masters answered CONNECT in {both} probe round(s)"
    assert master.accepting()
    assert "is now master" not in slave.log()


def test_master_stopped_inside_a_write_does_not_block_the_takeover(
    nodes: Nodes, clients: Clients, database: DatabaseRef
) -> None:
    """The master's writer holds the epoch row's share lock from its fence check to its COMMIT. If the
    master stops inside that transaction, the server must end the session (idle in transaction) so the
    new master can claim the next epoch instead of waiting for the old one to resume."""
    settings = JdbcSettings(locker="lease-database-locker", interval=1000, keep_alive=300)
    master, slave = start_pair(nodes, database, settings)
    producer = clients(master.port)
    for i in range(5):
        assert producer.send("/queue/stall", f"m{i}")
    blocker = database.connect(autocommit=False)
    with blocker.cursor() as cur:  # takes the ID the master's next INSERT will use: that INSERT waits
        cur.execute("INSERT INTO ACTIVEMQ_MSGS(ID) VALUES (6)")
    receipt = producer.send_async("/queue/stall", "m5")
    time.sleep(0.5)  # the master's transaction: epoch check done, INSERT waiting
    master.pause()
    blocker.rollback()  # the INSERT completes in the server; the stopped master never sends COMMIT
    blocker.close()
    stopped = time.monotonic()
    slave.wait_master(timeout=15)
    takeover = time.monotonic() - stopped
    assert takeover < 8.0, f"takeover took {takeover:.1f} s"
    master.resume()
    # Its lease ran out, and the server ended its writer session: whichever it notices first.
    master.wait_log(f"({STEP_DOWN_LINE}|{OUTAGE_LINE})", timeout=10)
    time.sleep(0.5)
    assert receipt not in producer.receipts, "the stopped master confirmed a write after it resumed"
    assert clients(slave.port).drain("/queue/stall") == [f"m{i}" for i in range(5)]


STOMP_FEATURES = JdbcSettings(
    broker_attributes=' schedulerSupport="true"',
    extra_xml="""<plugins>
      <redeliveryPlugin fallbackToDeadLetter="true" sendToDlqIfMaxRetriesExceeded="true">
        <redeliveryPolicyMap><redeliveryPolicyMap><redeliveryPolicyEntries>
          <redeliveryPolicy queue="retry.>" maximumRedeliveries="1" initialRedeliveryDelay="1000"
                            redeliveryDelay="1000"/>
        </redeliveryPolicyEntries></redeliveryPolicyMap></redeliveryPolicyMap>
      </redeliveryPlugin>
    </plugins>
    <destinationPolicy><policyMap><policyEntries>
      <policyEntry queue="prio.>" prioritizedMessages="true"/>
    </policyEntries></policyMap></destinationPolicy>""",
)


def test_stomp_features_on_the_jdbc_store_and_durable_subscriptions_refused(
    nodes: Nodes, database: DatabaseRef
) -> None:
    node = jdbc_node(nodes, "node1", database, STOMP_FEATURES).start()
    node.wait_master(timeout=20)
    conn = RawStomp(node.port)
    assert conn.connect(**{"client-id": "c1"}).command == "CONNECTED"
    durable = {"destination": "/topic/t", "id": "d", "activemq.subscriptionName": "s", "receipt": "dur"}
    conn.send("SUBSCRIBE", durable)
    error = conn.wait(lambda f: f.command == "ERROR")
    assert "Durable topic subscriptions are not supported by pybroker's JDBC store" in error.headers["message"]
    assert database.query("SELECT COUNT(*) FROM ACTIVEMQ_ACKS") == [(0,)]

    for priority in (1, 8, 4):
        headers = {"destination": "/queue/prio.a", "persistent": "true", "priority": str(priority)}
        conn.send("SEND", {**headers, "receipt": f"p{priority}"}, b"p%d" % priority)
        conn.receipt(f"p{priority}")
    assert sorted(database.query("SELECT PRIORITY FROM ACTIVEMQ_MSGS")) == [(1,), (4,), (8,)]
    conn.send("SUBSCRIBE", {"destination": "/queue/retry.x", "id": "r", "ack": "client-individual"})
    conn.send("SEND", {"destination": "/queue/retry.x", "persistent": "true", "receipt": "r"}, b"retry me")
    conn.receipt("r")
    first = conn.wait(lambda f: f.command == "MESSAGE" and f.body == b"retry me")
    conn.send("NACK", {"id": first.headers["ack"], "receipt": "n"})
    conn.receipt("n")  # the scheduled redelivery is a committed row now
    node.kill9()
    node.start()
    node.wait_log(MASTER_LINE, timeout=20, count=2)

    again = RawStomp(node.port)
    assert again.connect().command == "CONNECTED"
    again.send("SUBSCRIBE", {"destination": "/queue/prio.a", "id": "p", "ack": "auto"})
    again.wait(lambda f: f.body == b"p1")
    assert [m.body for m in again.messages()] == [b"p8", b"p4", b"p1"], "priorities kept by the rows"
    again.send("SUBSCRIBE", {"destination": "/queue/retry.x", "id": "r", "ack": "client-individual"})
    back = again.wait(lambda f: f.headers.get("subscription") == "r")
    assert back.body == b"retry me" and back.headers["redelivered"] == "true"
    assert back.headers["message-id"] == first.headers["message-id"]
    again.send("ACK", {"id": back.headers["ack"], "receipt": "done"})
    again.receipt("done")
    again.close()
    conn.close()
    assert database.query("SELECT COUNT(*) FROM ACTIVEMQ_MSGS") == [(0,)]
