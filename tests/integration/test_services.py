"""Real PostgreSQL and MariaDB servers as harness services: a database per cluster, sessions told
apart by link, killed by link, and an outage that the server recovers from."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.faults import LockHolder, Nemesis
from harness.history import History
from harness.services import DATABASE_KINDS, DatabasePool
from harness.services.database import connection_answers
from harness.toxiproxy.links import BuiltinToxiproxy, LinkProxies

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pool() -> Iterator[DatabasePool]:
    with DatabasePool() as databases:
        yield databases


@pytest.fixture(scope="module")
def links() -> Iterator[LinkProxies]:
    with BuiltinToxiproxy() as server:
        proxies = LinkProxies(server.url)
        yield proxies
        proxies.close()


@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_sessions_of_one_link_are_killed_and_the_others_live_on(
    pool: DatabasePool, links: LinkProxies, kind: str
) -> None:
    server, database = pool.create_database(kind)  # type: ignore[arg-type]
    first = links.create(f"amq1.{kind}", (database.host, database.port))
    second = links.create(f"amq2.{kind}", (database.host, database.port))
    victims = [replace(database, port=first.listen_port).connect() for _ in range(2)]
    survivor = replace(database, port=second.listen_port).connect()
    try:
        assert all(connection_answers(c) for c in [*victims, survivor])
        killed = server.kill_sessions(database, first.upstream_ports())
        assert killed == 2, f"expected the 2 sessions through amq1's link to be killed, killed {killed}"
        assert not any(connection_answers(c) for c in victims), "a killed session still answers"
        assert connection_answers(survivor), "a session through another link was killed too"
    finally:
        for conn in [*victims, survivor]:
            with contextlib.suppress(Exception):
                conn.close()


@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_server_stopped_immediately_comes_back_with_its_data(pool: DatabasePool, kind: str) -> None:
    server, database = pool.create_database(kind)  # type: ignore[arg-type]
    with contextlib.closing(database.connect()) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (n INT)")
        cur.execute("INSERT INTO kept VALUES (42)")
    server.stop_immediately()
    assert not server.running
    with pytest.raises(Exception):  # noqa: B017 - any driver error: the server is down
        database.connect()
    server.start()
    assert database.query("SELECT n FROM kept") == [(42,)]


def test_lock_holder_waits_for_the_lock_then_holds_it_until_healed(tmp_path: Path) -> None:
    lock_file = tmp_path / "lock"
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    fcntl.lockf(fd, fcntl.LOCK_EX)  # this process plays the master
    holder = LockHolder("group", lock_file)
    Nemesis(History()).inject(holder)
    try:
        assert not holder.wait_held(0.5), "the outside holder took a lock the master still holds"
        fcntl.lockf(fd, fcntl.LOCK_UN)
        assert holder.wait_held(10), "the outside holder did not take the free lock"
        with pytest.raises(OSError):
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        holder.heal()
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on heal
    os.close(fd)


def test_stealing_lock_holder_owns_the_new_lock_file_from_its_first_moment(tmp_path: Path) -> None:
    lock_file = tmp_path / "lock"
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    fcntl.lockf(fd, fcntl.LOCK_EX)  # the master's lock, on the old inode
    holder = LockHolder("group", lock_file, steal=True)
    Nemesis(History()).inject(holder)  # returns once the outsider holds the new file
    try:
        contender = os.open(lock_file, os.O_RDWR)  # what a slave would open now
        with pytest.raises(OSError):
            fcntl.lockf(contender, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(contender)
    finally:
        holder.heal()
        os.close(fd)
