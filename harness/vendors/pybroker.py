"""The project's own broker, launched as ``python -m harness.broker``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import harness
from harness.topology.model import Topology
from harness.vendors.base import LaunchSpec

# jdbc: PostgreSQL (psycopg) and MariaDB/MySQL (PyMySQL), database-locker and lease-database-locker.
SUPPORTED_STORES = ("shared-file", "jdbc", "replicated")


class PyBroker:
    """``python`` and ``source_root`` default to this process's interpreter and checkout; an image sets its own."""

    name = "pybroker"

    def __init__(self, python: str | None = None, source_root: Path | None = None) -> None:
        self.python = python or sys.executable
        self.source_root = source_root

    def check_installed(self) -> None:
        """pybroker ships with the harness: nothing to check."""

    def version(self) -> str:
        return harness.__version__

    def unsupported_reason(self, topology: Topology) -> str | None:
        for group in topology.groups:
            if group.store not in SUPPORTED_STORES:
                return f"pybroker {self.version()} has no {group.store} store yet"
        return None

    def prepare(self, node_dir: Path, activemq_xml: str) -> LaunchSpec:
        conf = node_dir / "conf" / "activemq.xml"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(activemq_xml, encoding="utf-8")
        # -u: log lines reach the log file as they happen, for people tailing it during a run.
        argv = [self.python, "-u", "-m", "harness.broker", "--config", str(conf)]
        if self.source_root is not None:
            return LaunchSpec(argv=argv, cwd=node_dir, env={"PYTHONPATH": str(self.source_root)})
        # The broker runs the very code this process imported, whichever checkout that is.
        source_root = str(Path(harness.__file__).resolve().parent.parent)
        pythonpath = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH", "")) if p)
        return LaunchSpec(argv=argv, cwd=node_dir, env={"PYTHONPATH": pythonpath})
