"""``<replicatedLevelDB>``: ActiveMQ's replicated store settings (5.9 to 5.16), read with its attribute names
and defaults.

replicas 3 (quorum replicas/2 + 1), sync quorum_mem, zkAddress 127.0.0.1:2181, zkPath /default,
zkSessionTimeout 2s (also read under ActiveMQ's old misspelling zkSessionTmeout), bind
tcp://0.0.0.0:61619, hostname (the machine's name), weight 1, securityToken "" (slaves must present
it). The LevelDB tuning knobs (logSize, index*, flushDelay ...) only matter to LevelDB's own files: they
are accepted and ignored. local_*/remote_* sync values are refused: pybroker implements the two quorum
modes, which are the ones that keep a quorum's promise.

Outside activemq.xml, the environment variable PYBROKER_REPLICATION_ROUTES (``published=dialled`` pairs,
comma separated, each a host:port) tells a slave to reach the master that published an address through
another one: a proxy in front of that master, of this slave's own, so that one slave's replication link
can be broken while the others' are not. ActiveMQ has no such setting (its slaves always dial the
published address).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SYNC_MODES = ("quorum_mem", "quorum_disk")
DEFAULT_BIND = "tcp://0.0.0.0:61619"
DEFAULT_ZK_ADDRESS = "127.0.0.1:2181"
DEFAULT_ZK_PATH = "/default"
DEFAULT_ZK_SESSION_TIMEOUT_MS = 2000
ROUTES_ENV = "PYBROKER_REPLICATION_ROUTES"

ATTRIBUTES = frozenset(
    {
        "directory",
        "replicas",
        "sync",
        "zkAddress",
        "zkPath",
        "zkPassword",
        "zkSessionTimeout",
        "zkSessionTmeout",
        "bind",
        "hostname",
        "weight",
        "securityToken",
        "container",
    }
)
IGNORED_ATTRIBUTES = frozenset(
    {
        "logSize",
        "indexFactory",
        "verifyChecksums",
        "indexMaxOpenFiles",
        "indexBlockRestartInterval",
        "paranoidChecks",
        "indexWriteBufferSize",
        "indexBlockSize",
        "indexCompression",
        "logCompression",
        "indexCacheSize",
        "flushDelay",
        "asyncBufferSize",
        "monitorStats",
        "failoverProducersAuditDepth",
        "maxFailoverProducersToTrack",
    }
)

_TIMESPAN = re.compile(r"^\s*(\d+)\s*(ms|s|m|)\s*$")


class ReplicatedConfigError(ValueError):
    """A <replicatedLevelDB> attribute pybroker cannot use; the message names it."""


@dataclass(frozen=True)
class ReplicatedStoreConfig:
    directory: Path
    replicas: int = 3
    sync: str = "quorum_mem"
    zk_address: str = DEFAULT_ZK_ADDRESS
    zk_path: str = DEFAULT_ZK_PATH
    zk_password: str | None = None
    zk_session_timeout_ms: int = DEFAULT_ZK_SESSION_TIMEOUT_MS
    bind_host: str = "0.0.0.0"
    bind_port: int = 61619
    hostname: str = ""
    weight: int = 1
    security_token: str = ""
    # (published master address, the address this node dials instead): see ROUTES_ENV.
    routes: tuple[tuple[str, str], ...] = ()

    @property
    def quorum(self) -> int:
        """Nodes that must hold a write (the master included) before it is confirmed."""
        return self.replicas // 2 + 1

    @property
    def min_slave_acks(self) -> int:
        return self.replicas // 2

    @property
    def address(self) -> str:
        """Where slaves reach this node when it is master (published in ZooKeeper)."""
        return f"{self.hostname}:{self.bind_port}"

    def route(self, published: str) -> str:
        """Where this node dials to reach the master that published ``published``."""
        return dict(self.routes).get(published, published)


def timespan_ms(text: str, what: str) -> int:
    """ActiveMQ's Timespan: "2s", "1500ms", "1m", or a bare number of milliseconds."""
    match = _TIMESPAN.match(text)
    if match is None:
        raise ReplicatedConfigError(f'<replicatedLevelDB {what}="{text}">: expected a time such as 2s or 1500ms')
    value, unit = int(match.group(1)), match.group(2)
    return value * {"ms": 1, "": 1, "s": 1000, "m": 60_000}[unit]


def parse_replicated_leveldb(attrs: dict[str, str], ignored: list[str]) -> ReplicatedStoreConfig:
    """The settings of one <replicatedLevelDB> element; LevelDB-only knobs are added to ``ignored``."""
    unknown = sorted(set(attrs) - ATTRIBUTES - IGNORED_ATTRIBUTES)
    if unknown:
        raise ReplicatedConfigError(
            f"<replicatedLevelDB {unknown[0]}=...> is not supported by pybroker "
            f"(supported: {', '.join(sorted(ATTRIBUTES))})"
        )
    for name in sorted(set(attrs) & IGNORED_ATTRIBUTES):
        ignored.append(f"replicatedLevelDB {name} (LevelDB's own file format)")
    directory = attrs.get("directory", "").strip()
    if not directory:
        raise ReplicatedConfigError("<replicatedLevelDB> needs a non-empty directory attribute")
    replicas = _integer(attrs, "replicas", 3, minimum=1)
    sync = attrs.get("sync", "quorum_mem").strip().lower()
    if sync not in SYNC_MODES:
        raise ReplicatedConfigError(
            f'<replicatedLevelDB sync="{sync}"> is not supported by pybroker (supported: {", ".join(SYNC_MODES)}; '
            "local_* and remote_* confirm writes a quorum may not hold)"
        )
    zk_path = attrs.get("zkPath", DEFAULT_ZK_PATH).strip()
    if not zk_path.startswith("/") or (zk_path.endswith("/") and zk_path != "/"):
        raise ReplicatedConfigError(f'<replicatedLevelDB zkPath="{zk_path}">: expected an absolute ZooKeeper path')
    timeout_text = attrs.get("zkSessionTimeout", attrs.get("zkSessionTmeout", "2s"))
    timeout = timespan_ms(timeout_text, "zkSessionTimeout")
    if timeout < 1000:
        raise ReplicatedConfigError(f'<replicatedLevelDB zkSessionTimeout="{timeout_text}">: at least 1s')
    bind = urlsplit(attrs.get("bind", DEFAULT_BIND).strip())
    if bind.scheme != "tcp" or bind.hostname is None or bind.port is None:
        raise ReplicatedConfigError(f'<replicatedLevelDB bind="{attrs.get("bind")}">: expected tcp://host:port')
    zk_address = attrs.get("zkAddress", DEFAULT_ZK_ADDRESS).strip()
    if not zk_address:
        raise ReplicatedConfigError("<replicatedLevelDB zkAddress>: empty")
    return ReplicatedStoreConfig(
        directory=Path(directory),
        replicas=replicas,
        sync=sync,
        zk_address=zk_address,
        zk_path=zk_path.rstrip("/") or "/",
        zk_password=attrs.get("zkPassword") or None,
        zk_session_timeout_ms=timeout,
        bind_host=bind.hostname,
        bind_port=bind.port,
        hostname=attrs.get("hostname", "").strip() or socket.getfqdn(),
        weight=_integer(attrs, "weight", 1, minimum=0),
        security_token=attrs.get("securityToken", ""),
    )


def parse_routes(text: str) -> tuple[tuple[str, str], ...]:
    """The value of PYBROKER_REPLICATION_ROUTES: ``host:port=host:port`` pairs, comma separated."""
    routes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        published, sep, dialled = item.partition("=")
        if not sep or not all(_is_address(a.strip()) for a in (published, dialled)):
            raise ReplicatedConfigError(f"{ROUTES_ENV}: expected published=dialled host:port pairs, not {item!r}")
        routes.append((published.strip(), dialled.strip()))
    return tuple(routes)


def _is_address(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit())


def _integer(attrs: dict[str, str], name: str, default: int, minimum: int) -> int:
    text = attrs.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise ReplicatedConfigError(f'<replicatedLevelDB {name}="{text}">: expected an integer') from None
    if value < minimum:
        raise ReplicatedConfigError(f'<replicatedLevelDB {name}="{text}">: must be at least {minimum}')
    return value
