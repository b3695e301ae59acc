"""A cluster a person explores by hand: ``amq-harness up`` starts it and ``amq-harness fault`` breaks it.

``up`` starts a topology on a vendor and runtime, prints each node's role and endpoint and the
failover URI to give a client, then follows the roles (a line per change) until Ctrl-C (or SIGTERM),
when it heals every fault, stops every node and removes its files. While it runs it listens on a Unix
socket in a directory of the user's own (``$XDG_RUNTIME_DIR`` or the temp directory); ``fault`` sends
one request there and prints the one-line answer. The faults are the harness's own, healed after
``--for`` seconds: kill -9 (the node restarts), pause (SIGSTOP, then SIGCONT), the lock file stolen,
the database stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.cluster import Cluster, Role
from harness.errors import InvalidOption, ScenarioError, UnknownName
from harness.faults import Faults, Nemesis
from harness.faults.base import Fault
from harness.history import History
from harness.runtime.choice import databases_per_run, make_runtime
from harness.topology import jdbc, shared_file
from harness.topology.model import Topology
from harness.vendors import Vendor

TOPOLOGIES = ("shared_file", "jdbc")
FAULTS = ("kill", "pause", "steal-lock", "database-outage")
Print = Callable[[str], None]


def control_path() -> Path:
    """Where a running ``up`` listens: one per user (the directory is the user's own)."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return base / f"amq-harness-up-{os.getuid()}.sock"


def topology_named(name: str, nodes: int, database: str) -> Topology:
    if nodes < 1:
        raise InvalidOption("--nodes", "the number of nodes", "1 or more", nodes)
    if name == "shared_file":
        return shared_file(nodes)
    if name == "jdbc":
        if database not in ("postgresql", "mariadb"):
            raise UnknownName("database", database, ("postgresql", "mariadb"))
        return jdbc(nodes, db=database)  # type: ignore[arg-type]
    raise UnknownName("topology", name, TOPOLOGIES)


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]


class Explorer:
    """A started cluster, its faults, and the control socket that lets another terminal inject them."""

    def __init__(self, cluster: Cluster, nemesis: Nemesis, out: Print) -> None:
        self.cluster = cluster
        self.faults = Faults(nemesis, cluster)
        self.out = out
        self.lock = threading.Lock()

    def describe(self) -> list[str]:
        roles = self.cluster.roles()
        lines = [f"  {name:6} {roles[name]:7} {node.endpoint}" for name, node in self.cluster.nodes.items()]
        lines.append(f"failover URI: {self.cluster.failover_uri()}")
        return lines

    def inject(self, name: str, node: str | None, for_s: float) -> str:
        """Inject fault ``name`` (healed after ``for_s`` seconds); the answer is one line."""
        if for_s < 0:
            raise InvalidOption("amq-harness fault", "--for", "zero or more seconds", for_s)
        with self.lock:
            fault: Fault
            if name in ("kill", "pause"):
                if node is None:
                    raise ScenarioError(f"fault {name} needs a node: one of {', '.join(self.cluster.nodes)}")
                target = self.cluster.node(node)
                fault = self.faults.kill(target) if name == "kill" else self.faults.pause(target)
            elif name == "steal-lock":
                fault = self.faults.steal_lock()
            elif name == "database-outage":
                fault = self.faults.database_outage(down_for_s=for_s)
            else:
                raise UnknownName("fault", name, FAULTS)
        timer = threading.Timer(for_s, self._heal, args=(fault, name, node))
        timer.daemon = True
        timer.start()
        target_text = f" {node}" if node else ""
        self.out(f"[{_stamp()}] fault {name}{target_text} injected; heals in {for_s:g} s")
        return f"{name}{target_text}: injected, heals in {for_s:g} s"

    def _heal(self, fault: Fault, name: str, node: str | None) -> None:
        with self.lock:
            fault.heal()
        self.out(f"[{_stamp()}] fault {name}{' ' + node if node else ''} healed")

    def serve(self, server: socket.socket, stop: threading.Event) -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    request: dict[str, Any] = json.loads(conn.makefile("r").readline() or "{}")
                    answer = {
                        "ok": True,
                        "message": self.inject(request["fault"], request.get("node"), float(request["for_s"])),
                    }
                except ScenarioError as exc:
                    answer = {"ok": False, "message": str(exc)}
                except Exception as exc:  # the session goes on whatever one request does
                    answer = {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps(answer) + "\n").encode())


def _interrupt_once(signum: int, frame: object) -> None:
    """The first Ctrl-C (or SIGTERM) stops the session; later ones are ignored, so that a second Ctrl-C
    while containers are being removed (which takes seconds) cannot cut the teardown short and leave
    nodes, containers or files behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def up(topology: Topology, vendor: Vendor, runtime_name: str, out: Print = print, poll_s: float = 0.5) -> int:
    """Start, describe, follow the roles until interrupted, remove everything. Returns the exit status."""
    path = control_path()
    if path.exists():
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
            out(f"amq-harness up: a cluster is already up (its control socket {path} answers); stop it first")
            return 2
        except OSError:
            path.unlink()  # left by an up that was killed
        finally:
            probe.close()
    vendor.check_installed()
    previous = {sig: signal.signal(sig, _interrupt_once) for sig in (signal.SIGINT, signal.SIGTERM)}
    workdir = Path(tempfile.mkdtemp(prefix="amq-harness-up-"))
    pool = None
    if databases_per_run(runtime_name) and any(g.jdbc for g in topology.groups):
        from harness.services import DatabasePool

        pool = DatabasePool()
    stop = threading.Event()
    server = socket.socket(socket.AF_UNIX)
    stopping = False
    try:
        where = f"runtime {runtime_name}; files in {workdir}"
        out(f"amq-harness up: {topology.name} on {vendor.name} {vendor.version()}, {where}")
        cluster = Cluster(topology, vendor, make_runtime(runtime_name, workdir), pool)
        with cluster, Nemesis(History()) as nemesis:
            explorer = Explorer(cluster, nemesis, out)
            for line in explorer.describe():
                out(line)
            server.bind(str(path))
            server.listen(4)
            threading.Thread(target=explorer.serve, args=(server, stop), daemon=True, name="control").start()
            out(f"faults from another terminal: amq-harness fault {{{','.join(FAULTS)}}} [NODE] [--for S]")
            out("following roles; Ctrl-C stops the cluster and removes everything")
            try:
                _follow_roles(cluster, out, poll_s)
            except KeyboardInterrupt:
                stopping = _say_stopping(out, stopping)
    except KeyboardInterrupt:  # during start-up
        stopping = _say_stopping(out, stopping)
    finally:
        stop.set()
        server.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if pool is not None:
            pool.close()
        shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out("amq-harness up: everything removed")
    return 0


def _follow_roles(cluster: Cluster, out: Print, poll_s: float) -> None:
    """Print every role change until interrupted."""
    roles: dict[str, Role] = cluster.roles()
    while True:
        time.sleep(poll_s)
        now = cluster.roles()
        for name, role in now.items():
            if role != roles.get(name):
                out(f"[{_stamp()}] {name} {roles.get(name)} -> {role}")
        roles = now


def _say_stopping(out: Print, said: bool) -> bool:
    """Say once, before the teardown starts, that it has."""
    if not said:
        out("amq-harness up: stopping: healing faults, stopping nodes, removing files")
    return True


def send_fault(name: str, node: str | None, for_s: float) -> tuple[bool, str]:
    """Ask the running ``up`` to inject a fault: (accepted, its one-line answer)."""
    path = control_path()
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(60)
    try:
        conn.connect(str(path))
    except OSError:
        return False, "no cluster is up (start one in another terminal: amq-harness up shared_file)"
    with conn:
        conn.sendall((json.dumps({"fault": name, "node": node, "for_s": for_s}) + "\n").encode())
        answer = json.loads(conn.makefile("r").readline() or '{"ok": false, "message": "no answer"}')
    return bool(answer["ok"]), str(answer["message"])
