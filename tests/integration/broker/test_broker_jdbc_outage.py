"""A database outage under a JDBC master/slave pair: immediate stop of the database, then restart.

While a producer keeps sending persistent messages with receipts and a monitor probes both brokers
with STOMP CONNECT: no receipted message may be lost, never may both brokers answer, and once the
database is back one of them must serve again (the time it takes is printed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import stomp
from broker_procs import BrokerNode, Client, stomp_connects, wait_until
from jdbc_nodes import OUTAGE_LINE, SLAVE_LINE, JdbcSettings, jdbc_renderer

from harness.services.database import DatabaseServer

pytestmark = pytest.mark.integration

Nodes = Callable[..., BrokerNode]
Clients = Callable[..., Client]


class Producer(threading.Thread):
    """Sends persistent messages with receipts to whichever broker answers; remembers what was confirmed."""

    def __init__(self, nodes: list[BrokerNode], destination: str) -> None:
        super().__init__(daemon=True)
        self.nodes = nodes
        self.destination = destination
        self.stop = threading.Event()
        self.receipted: list[str] = []
        self.attempted = 0
        self.client: Client | None = None

    def run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            client = self._client()
            if client is None:
                time.sleep(0.05)
                continue
            body = f"m{seq}"
            seq += 1
            self.attempted += 1
            try:
                ok = client.send(self.destination, body, timeout=2.0)
            except Exception:
                ok = False
            if ok:
                self.receipted.append(body)
            else:
                self._drop()
            time.sleep(0.01)
        self._drop()

    def _client(self) -> Client | None:
        if self.client is not None and self.client.conn.is_connected() and not self.client.disconnected:
            return self.client
        self._drop()
        for node in self.nodes:
            try:
                self.client = Client(node.port)
                return self.client
            except stomp.exception.ConnectFailedException:
                continue
            except Exception:
                continue
        return None

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class Monitor(threading.Thread):
    """Probes both brokers with CONNECT in rounds; counts rounds in which both answered."""

    def __init__(self, nodes: list[BrokerNode]) -> None:
        super().__init__(daemon=True)
        self.nodes = nodes
        self.stop = threading.Event()
        self.rounds = 0
        self.both = 0
        self.last_masters: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            masters = [node.name for node in self.nodes if stomp_connects(node.port, 0.5)]
            self.rounds += 1
            if len(masters) > 1:
                self.both += 1
            self.last_masters = masters
            time.sleep(0.05)

    def current(self) -> list[str]:
        return [node.name for node in self.nodes if stomp_connects(node.port, 0.5)]


@pytest.mark.parametrize(
    ("kind", "settings", "resumes_in_place"),
    [
        ("postgresql", JdbcSettings(locker="database-locker"), False),
        ("postgresql", JdbcSettings(locker="lease-database-locker", resume_check=500), False),
        # A lease longer than the outage: the master still owns it and restarts its own connectors.
        ("postgresql", JdbcSettings(locker="lease-database-locker", interval=8000, resume_check=200), True),
        ("mariadb", JdbcSettings(locker="database-locker"), False),
        ("mariadb", JdbcSettings(locker="lease-database-locker", resume_check=500), False),
    ],
    ids=[
        "postgresql-database-default",
        "postgresql-lease-resume",
        "postgresql-long-lease-resume-in-place",
        "mariadb-database-default",
        "mariadb-lease-resume",
    ],
)
def test_database_outage_loses_nothing_and_the_cluster_comes_back(
    nodes: Nodes,
    clients: Clients,
    own_db_server: Callable[[str], DatabaseServer],
    kind: str,
    settings: JdbcSettings,
    resumes_in_place: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = own_db_server(kind)
    database = server.create_database()
    render = jdbc_renderer(database, settings)
    first = nodes("node1", render=render).start()
    first.wait_master(timeout=20)
    second = nodes("node2", render=render).start()
    second.wait_log(SLAVE_LINE, timeout=20)
    pair = [first, second]
    producer = Producer(pair, "/queue/outage")
    monitor = Monitor(pair)
    producer.start()
    monitor.start()
    try:
        wait_until(lambda: len(producer.receipted) >= 20, 20, "receipted sends before the outage")
        server.stop_immediately()
        first.wait_log(OUTAGE_LINE, timeout=10)
        wait_until(lambda: monitor.current() == [], 10, "both brokers to close their connectors")
        before_restart = len(producer.receipted)
        time.sleep(2.0)
        assert monitor.current() == [], "a broker served while the database was down"
        assert len(producer.receipted) == before_restart, "a send was receipted while the database was down"

        restarted = time.monotonic()
        server.start()
        wait_until(lambda: len(monitor.current()) == 1, 30, "one broker to serve again")
        back_after = time.monotonic() - restarted
        wait_until(lambda: len(producer.receipted) >= before_restart + 20, 30, "receipted sends after the outage")
    finally:
        producer.stop.set()
        monitor.stop.set()
        producer.join(10)
        monitor.join(10)

    with capsys.disabled():
        print(
            f"\npybroker JDBC {kind} {settings.locker} lease/interval={settings.interval} ms "
            f"handler={settings.resume_check is not None}: "
            f"serving again {back_after * 1000:.0f} ms after the database restarted; "
            f"{len(producer.receipted)} receipted of {producer.attempted} sent; {monitor.rounds} probe rounds"
        )
    assert monitor.both == 0, f"both brokers answered CONNECT in {monitor.both} of {monitor.rounds} probe rounds"
    [master] = [node for node in pair if node.accepting()]
    if resumes_in_place:
        assert master is first, "the lease outlived the outage: its owner should have resumed"
        assert "still owns the lock: restarting the connectors" in first.log()
    drained = set(clients(master.port).drain("/queue/outage", timeout=60))
    lost = [body for body in producer.receipted if body not in drained]
    assert lost == [], f"{len(lost)} receipted message(s) lost: {lost[:10]}"
