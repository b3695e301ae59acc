"""One database server per kind for a whole run, started on first use, each cluster in a database of its own.

initdb or mariadb-install-db takes seconds; creating a database takes milliseconds. A run of many
scenarios shares its servers, and reaps them all at the end (or at exit, if the run crashed).
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from pathlib import Path

from harness.services.database import DatabaseKind, DatabaseRef, DatabaseServer, start_server

log = logging.getLogger("harness.services")

_live_pools: weakref.WeakSet[DatabasePool] = weakref.WeakSet()


@atexit.register
def _reap_leftovers() -> None:
    for pool in list(_live_pools):
        pool.close()


class DatabasePool:
    def __init__(self, workdir: Path | None = None, host: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.host = host
        self.servers: dict[DatabaseKind, DatabaseServer] = {}
        self._lock = threading.Lock()
        _live_pools.add(self)

    def server(self, kind: DatabaseKind) -> DatabaseServer:
        """The run's server of this kind, started now if it is not running (an outage may have stopped it)."""
        with self._lock:
            server = self.servers.get(kind)
            if server is None:
                log.info("starting a %s server for this run", kind)
                server = self.servers[kind] = start_server(kind, self.host, self.workdir)
            elif not server.running:
                log.warning("the %s server was down at the start of a cluster: starting it again", kind)
                server.start()
            return server

    def create_database(self, kind: DatabaseKind) -> tuple[DatabaseServer, DatabaseRef]:
        server = self.server(kind)
        return server, server.create_database()

    def close(self) -> None:
        with self._lock:
            servers, self.servers = list(self.servers.values()), {}
        for server in servers:
            try:
                server.reap()
            except Exception as exc:  # teardown must reach every server
                log.error("reaping %r failed: %s", server, exc)
        _live_pools.discard(self)

    def __enter__(self) -> DatabasePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
