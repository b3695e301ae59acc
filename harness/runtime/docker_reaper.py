"""Remove the containers, networks and volumes that harness runs left behind.

A run removes its own at the end; a run that was killed (SIGKILL, a crashed CI machine) cannot. Its
objects carry the owner's labels (harness.runtime.docker_labels): whatever belongs to a process that
no longer runs on this host is removed. ``everything`` removes all of the harness's objects.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from harness.runtime.docker_labels import LABEL_RUN, StartTimeOf, is_leftover, process_start_time


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes)

    def summary(self) -> str:
        parts = [
            f"{len(items)} {kind}: {', '.join(items)}"
            for kind, items in (("containers", self.containers), ("networks", self.networks), ("volumes", self.volumes))
            if items
        ]
        return "; ".join(parts) or "nothing"


def prune(
    client: docker.DockerClient,
    everything: bool = False,
    progress: Callable[[str], Any] = print,
    this_host: str | None = None,
    start_time_of: StartTimeOf = process_start_time,
    run_id: str | None = None,
) -> Removed:
    """Remove the harness's leftovers (containers first: a network in use cannot go).

    With ``run_id``, only that run's objects (what a run's watchdog removes once its run is gone).
    """
    host = this_host or socket.gethostname()
    removed = Removed()
    label_filter = {"label": LABEL_RUN if run_id is None else f"{LABEL_RUN}={run_id}"}

    def leftover(labels: dict[str, str] | None) -> bool:
        return is_leftover(labels or {}, host, start_time_of, everything)

    for container in client.containers.list(all=True, filters=label_filter):
        if leftover(container.labels):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                continue
            removed.containers.append(container.name)
            progress(f"removed container {container.name}")
    for network in client.networks.list(filters=label_filter):
        if leftover(network.attrs.get("Labels")):
            try:
                network.remove()
            except docker.errors.NotFound:
                continue
            removed.networks.append(str(network.name))
            progress(f"removed network {network.name}")
    for volume in client.volumes.list(filters=label_filter):
        if leftover(volume.attrs.get("Labels")):
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                continue
            removed.volumes.append(str(volume.name))
            progress(f"removed volume {volume.name}")
    return removed
