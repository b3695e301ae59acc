"""Shared-file master/slave with real processes: slave mode, takeover, stolen lock, fencing."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest
from broker_procs import SLAVE_LINE, STEP_DOWN_LINE, BrokerNode, Client, stomp_connects, wait_until

pytestmark = pytest.mark.integration

Nodes = Callable[..., BrokerNode]
Clients = Callable[..., Client]


def start_pair(nodes: Nodes, **options: int) -> tuple[BrokerNode, BrokerNode]:
    master = nodes("node1", **options).start()
    master.wait_master()
    slave = nodes("node2", **options).start()
    slave.wait_log(SLAVE_LINE)
    return master, slave


def test_slave_opens_no_connector_and_logs_once(nodes: Nodes) -> None:
    master, slave = start_pair(nodes, interval=200)
    time.sleep(1.0)  # several poll intervals
    assert master.accepting()
    assert not slave.accepting()
    assert slave.count(SLAVE_LINE) == 1
    assert f"Database {slave.store}/lock {SLAVE_LINE}" in slave.log()
    assert "Connector stomp started" not in slave.log()
    started = time.monotonic()
    assert slave.terminate() == 0  # a slave blocked waiting for the lock still stops at once
    assert time.monotonic() - started < 3


def test_kill9_master_slave_takes_over_at_once(
    nodes: Nodes, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    # ActiveMQ's default poll interval (10 s): the takeover must not wait for it.
    master, slave = start_pair(nodes, interval=10_000)
    producer = clients(master.port)
    for i in range(50):
        assert producer.send("/queue/ha", f"m{i}")
    killed = time.monotonic()
    master.kill9()

    wait_until(lambda: stomp_connects(slave.port), 5.0, "CONNECTED from the new master", step=0.005)
    takeover = time.monotonic() - killed
    with capsys.disabled():
        print(f"\npybroker: takeover after kill -9 of the master: {takeover * 1000:.0f} ms")
    assert takeover < 2.0
    assert clients(slave.port).drain("/queue/ha") == [f"m{i}" for i in range(50)]


def test_deleted_lock_file_new_master_and_old_one_steps_down(nodes: Nodes, clients: Clients) -> None:
    master, slave = start_pair(nodes, interval=300, keep_alive=500)
    producer = clients(master.port)
    for i in range(20):
        assert producer.send("/queue/del", f"m{i}")
    (master.store / "lock").unlink()

    slave.wait_master(timeout=5)
    master.wait_log(STEP_DOWN_LINE, timeout=5)
    assert "was deleted" in master.log() or "was replaced" in master.log()
    wait_until(lambda: not master.accepting(), 5, "the old master's port to close")
    master.wait_log(SLAVE_LINE, timeout=5)  # back to waiting for the lock
    assert clients(slave.port).drain("/queue/del") == [f"m{i}" for i in range(20)]
    assert not master.accepting()


@pytest.mark.parametrize("keep_alive", [0, 1000], ids=["fence-only", "fence-and-keepalive"])
def test_paused_master_is_fenced_after_the_lock_is_stolen(nodes: Nodes, clients: Clients, keep_alive: int) -> None:
    master = nodes("node1", keep_alive=keep_alive, interval=300).start()
    master.wait_master()
    slave = nodes("node2", keep_alive=keep_alive, interval=300).start()
    slave.wait_log(SLAVE_LINE)

    producer = clients(master.port)
    confirmed = [f"a{i}" for i in range(30)]
    for body in confirmed:
        assert producer.send("/queue/fence", body)

    master.pause()
    # Work that reaches the frozen master: it must never be confirmed once it wakes up deposed.
    late = [producer.send_async("/queue/fence", f"b{i}") for i in range(10)]
    raw = socket.create_connection(("127.0.0.1", master.port), timeout=5)
    raw.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
    (master.store / "lock").unlink()
    slave.wait_master(timeout=5)
    master.resume()

    master.wait_log(STEP_DOWN_LINE, timeout=5)
    wait_until(lambda: not master.accepting(), 5, "the deposed master's port to close")
    raw.settimeout(2)
    reply = b""
    try:
        while chunk := raw.recv(4096):
            reply += chunk
    except OSError:
        pass
    raw.close()
    assert b"CONNECTED" not in reply
    time.sleep(0.5)
    assert not set(late) & producer.receipts, "the deposed master confirmed a send"
    if keep_alive == 0:
        assert "fencing epoch moved" in master.log()

    bodies = clients(slave.port).drain("/queue/fence")
    assert set(confirmed) <= set(bodies), "a message receipted by the old master is missing"
    assert bodies[: len(confirmed)] == confirmed
    # The late sends went to a segment the new master had already superseded.
    assert not any(body.startswith("b") for body in bodies)
    master.wait_log(SLAVE_LINE, timeout=5)


def test_restarted_old_master_becomes_slave_and_store_stays_consistent(nodes: Nodes, clients: Clients) -> None:
    master, slave = start_pair(nodes, interval=200)
    producer = clients(master.port)
    for i in range(10):
        assert producer.send("/queue/x", f"m{i}")
    master.kill9()
    slave.wait_master(timeout=5)
    master.start()
    master.wait_log(SLAVE_LINE, timeout=5)
    assert not master.accepting()
    second = clients(slave.port)
    for i in range(10, 15):
        assert second.send("/queue/x", f"m{i}")
    slave.kill9()
    master.wait_log(r"Broker node1 is now master \(epoch 3\)", timeout=5)
    assert clients(master.port).drain("/queue/x") == [f"m{i}" for i in range(15)]
    epoch = (master.store / "epoch").read_text().strip()
    assert epoch == "3"
    assert sorted(os.listdir(master.store / "journal")) == ["0000000003-000000.log"]
