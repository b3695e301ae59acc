"""What a scenario ran besides its broker: the version of each database server its cluster used.

Read from the servers themselves (``SELECT version()`` answers on PostgreSQL and MariaDB alike), so
a report says what really ran, e.g. a container image's PostgreSQL rather than the host's.
"""

from __future__ import annotations

import logging

from harness.cluster import Cluster

log = logging.getLogger(__name__)


def short_version(kind: str, answer: str) -> str:
    """``PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64-pc-linux-gnu, ...`` -> ``PostgreSQL 15.8 (Debian ...)``."""
    text = answer.split(" on ", 1)[0].strip()
    return text if kind == "postgresql" else f"MariaDB {text}"


def service_versions(cluster: Cluster) -> dict[str, str]:
    """``{"postgresql": "PostgreSQL 15.8 (...)"}`` for each database the cluster's groups use.

    A server that does not answer is left out (and logged): a version is worth a report line, not a
    failed scenario.
    """
    versions: dict[str, str] = {}
    for name, (server, database) in cluster.databases.items():
        try:
            rows = database.query("SELECT version()")
        except Exception as exc:  # any driver error: the report just lacks this version
            log.warning("group %s: no version from %s: %s", name, server.kind, exc)
            continue
        if rows:
            versions[server.kind] = short_version(server.kind, str(rows[0][0]))
    return versions
