"""Database servers as containers (docker runtime): a database per cluster reached through a link on the
network's gateway, sessions killed per link, and an outage the server comes back from with its data."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from harness.runtime.docker import DockerRuntime
from harness.services import DATABASE_KINDS
from harness.services.database import connection_answers
from harness.toxiproxy.links import BuiltinToxiproxy, LinkProxies

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(tmp_path: Path, base_image: str) -> Iterator[DockerRuntime]:
    with DockerRuntime(tmp_path, database_image=base_image) as made:
        yield made


@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_database_container_serves_through_links_and_survives_an_outage(runtime: DockerRuntime, kind: str) -> None:
    server, database = runtime.databases().create_database(kind)  # type: ignore[arg-type]
    with BuiltinToxiproxy() as proxy_server:
        links = LinkProxies(proxy_server.url)
        first = links.create("amq1", (server.host, server.port))
        second = links.create("amq2", (server.host, server.port))
        victim = replace(database, host="127.0.0.1", port=first.listen_port).connect()
        survivor = replace(database, host="127.0.0.1", port=second.listen_port).connect()
        try:
            with victim.cursor() as cur:
                cur.execute("CREATE TABLE kept (n INT)")
                cur.execute("INSERT INTO kept VALUES (7)")
            assert server.kill_sessions(database, first.upstream_ports()) == 1
            assert not connection_answers(victim), "the session through amq1's link still answers after the kill"
            assert connection_answers(survivor), "a session through another link was killed too"
        finally:
            for conn in (victim, survivor):
                with contextlib.suppress(Exception):
                    conn.close()
        server.stop_immediately()
        assert not server.running
        server.start()
        second.repoint((server.host, server.port))  # the restarted container may have another address
        again = replace(database, host="127.0.0.1", port=second.listen_port)
        assert again.query("SELECT n FROM kept") == [(7,)]


def test_database_containers_are_removed_with_their_runtime(tmp_path: Path, base_image: str) -> None:
    with DockerRuntime(tmp_path, database_image=base_image) as runtime:
        server, _ = runtime.databases().create_database("postgresql")
        name = server.container.name
    client = docker.from_env()
    try:
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(name)
    finally:
        client.close()
