"""Faults on a JDBC group's database: an outage of the server and one broker's sessions killed (the
broker-to-database link's own faults are in links.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from harness.faults.base import Fault
from harness.history import History
from harness.services import DatabaseRef, DatabaseServer
from harness.toxiproxy.links import ProxiedLink

log = logging.getLogger("harness.faults")


class DatabaseOutage(Fault):
    """Stop the database server at once (PostgreSQL: pg_ctl stop -m immediate; MariaDB: kill -9).

    With ``down_for_s`` the server starts again by itself after that long, while the scenario goes
    on; healing (at the latest at teardown) starts it if it is still down.
    """

    kind = "database-outage"
    effective_after_inject = True  # pg_ctl stop takes a moment; what it stops is served until then

    def __init__(
        self,
        server: DatabaseServer,
        down_for_s: float | None = None,
        after_start: Callable[[], None] | None = None,
    ) -> None:
        if down_for_s is not None and down_for_s < 0:
            raise ValueError(f"database outage: down_for_s must be >= 0, got {down_for_s}")
        super().__init__(server.kind, how="immediate stop", down_for_s=down_for_s)
        self.server = server
        self.down_for_s = down_for_s
        self.after_start = after_start
        self._timer: threading.Timer | None = None
        self.down_at: float | None = None
        self.up_at: float | None = None

    def _inject(self) -> None:
        self.server.stop_immediately()
        self.down_at = time.monotonic()

    def inject(self, history: History, fault_id: int) -> DatabaseOutage:
        super().inject(history, fault_id)
        # The timer starts once the start is recorded, so that the end can never be recorded first.
        if self.down_for_s is not None:
            self._timer = threading.Timer(self.down_for_s, self._start_again_quietly)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _start_again_quietly(self) -> None:
        try:
            self.heal()
        except Exception as exc:  # the timer thread has no caller; heal_error keeps it for teardown
            log.error("database outage: starting %s again failed: %s", self.server.kind, exc)

    def _heal(self) -> None:
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if not self.server.running:
            self.server.start()
            if self.after_start is not None:
                self.after_start()
        self.up_at = time.monotonic()

    def wait_healed(self, timeout: float = 120.0) -> None:
        """Block until the timed outage is over (the server accepts connections again)."""
        deadline = time.monotonic() + timeout
        while not self.healed or self.up_at is None:
            if self.heal_error is not None:
                raise RuntimeError(f"database outage: the server did not start again: {self.heal_error}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"database outage: still down after {timeout:.0f} s")
            time.sleep(0.05)


class SessionKill(Fault):
    """End one broker's sessions on the database (pg_terminate_backend / KILL), its lock connection included.

    The broker's sessions are the database connections that come through its link. The broker keeps
    running; a database locker loses its row lock with its connection, so a slave can take over.
    """

    kind = "kill-db-sessions"

    def __init__(self, node: str, server: DatabaseServer, database: DatabaseRef, link: ProxiedLink) -> None:
        super().__init__(node, database=f"{database.kind}/{database.name}")
        self.server = server
        self.database = database
        self.link = link

    def _inject(self) -> None:
        ports = self.link.upstream_ports()
        if not ports:
            raise RuntimeError(f"kill-db-sessions: node {self.target} has no open connection to the database")
        killed = self.server.kill_sessions(self.database, ports)
        self.details["sessions"] = killed
        log.info("killed %d database sessions of %s", killed, self.target)

    def _heal(self) -> None:
        """Nothing to undo: the broker opens new sessions when it needs them."""
