"""The connection to the Docker engine, with an error that says what to install or start."""

from __future__ import annotations

import os

import docker
import docker.errors
from docker.models.containers import Container

INSTALL_HINT = (
    "install Docker Engine (Debian: apt-get install -y docker.io) and start it (systemctl start docker, "
    "or run dockerd), or run the scenarios with --runtime local"
)


class EngineUnavailable(RuntimeError):
    """No Docker engine answers; the message says where the harness looked and what to do."""


def engine_address() -> str:
    """The engine the harness talks to: $DOCKER_HOST, else the local socket."""
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect(timeout: float = 120.0) -> docker.DockerClient:
    """A client of the engine at $DOCKER_HOST (default: the local socket), checked with a ping."""
    where = engine_address()
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise EngineUnavailable(f"the Docker engine at {where} does not answer ({exc}): {INSTALL_HINT}") from exc
    return client


def container_status(container: Container | None) -> str:
    """The engine's status of a container now ("running", "paused", "exited", ...), "absent" if it is gone."""
    if container is None:
        return "absent"
    try:
        container.reload()
    except docker.errors.NotFound:
        return "absent"
    return str(container.status)
