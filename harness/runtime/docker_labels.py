"""Names and labels of what the docker runtime creates, and who owns it.

Every container and network carries the labels of the process that made it (host, pid and the
process's start time, since pids are reused), so that leftovers of a run that died can be told
from those of a run still going, by ``amq-harness docker prune`` or by the next run.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.runtime.processes import process_start_time

LABEL_PREFIX = "org.amq-harness"
LABEL_RUN = f"{LABEL_PREFIX}.run"  # every object the harness creates carries it
LABEL_OWNER_HOST = f"{LABEL_PREFIX}.owner-host"
LABEL_OWNER_PID = f"{LABEL_PREFIX}.owner-pid"
LABEL_OWNER_START = f"{LABEL_PREFIX}.owner-start"
LABEL_CLUSTER = f"{LABEL_PREFIX}.cluster"
LABEL_NODE = f"{LABEL_PREFIX}.node"

# One id per harness process: all its clusters share it.
RUN_ID = uuid.uuid4().hex[:12]

# The port every broker listens on inside its container; the host side is chosen per node.
CONTAINER_STOMP_PORT = 61613
NAME_PREFIX = "amqh"


@dataclass(frozen=True)
class Owner:
    """The harness process that created a container or network."""

    host: str
    pid: int
    start: str

    @classmethod
    def current(cls, pid: int | None = None) -> Owner:
        import os

        pid = os.getpid() if pid is None else pid
        return cls(socket.gethostname(), pid, process_start_time(pid) or "unknown")

    def labels(self) -> dict[str, str]:
        return {LABEL_OWNER_HOST: self.host, LABEL_OWNER_PID: str(self.pid), LABEL_OWNER_START: self.start}

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner | None:
        try:
            return cls(labels[LABEL_OWNER_HOST], int(labels[LABEL_OWNER_PID]), labels[LABEL_OWNER_START])
        except (KeyError, ValueError):
            return None


StartTimeOf = Callable[[int], "str | None"]


def owner_alive(owner: Owner, this_host: str, start_time_of: StartTimeOf = process_start_time) -> bool:
    """Is the owning process still running? One on another host cannot be checked: assume it is."""
    if owner.host != this_host:
        return True
    return start_time_of(owner.pid) == owner.start


def is_leftover(
    labels: Mapping[str, str], this_host: str, start_time_of: StartTimeOf = process_start_time, everything: bool = False
) -> bool:
    """Should prune remove an object with these labels? Only the harness's own, and only if its owner died."""
    if LABEL_RUN not in labels:
        return False
    if everything:
        return True
    owner = Owner.from_labels(labels)
    return owner is None or not owner_alive(owner, this_host, start_time_of)


def _safe(part: str) -> str:
    """Docker names allow [a-zA-Z0-9_.-]; anything else becomes '-'."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", part)


def network_name(cluster_id: str) -> str:
    return f"{NAME_PREFIX}-{_safe(cluster_id)}"


def container_name(cluster_id: str, node: str) -> str:
    return f"{NAME_PREFIX}-{_safe(cluster_id)}-{_safe(node)}"


def loopback_port_binding(host_port: int, container_port: int = CONTAINER_STOMP_PORT) -> dict[str, tuple[str, int]]:
    """Publish a container's port on the host's loopback only: brokers under test are not for the network."""
    return {f"{container_port}/tcp": ("127.0.0.1", host_port)}


def node_command(marker: str, argv: list[str]) -> list[str]:
    """Print the start marker, then become the broker: each (re)start of the container logs its marker first."""
    return ["sh", "-c", 'printf "%s\\n" "$0"; exec "$@"', marker, *argv]
