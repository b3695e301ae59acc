"""Fixtures of the docker integration tests: the base image, built (or found) once per session."""

from __future__ import annotations

import pytest

from harness.images.build import ImageBuilder
from harness.images.recipes import plan_images
from harness.runtime.engine import EngineUnavailable, connect


@pytest.fixture(scope="session")
def base_image() -> str:
    """The base image's tag (PostgreSQL, MariaDB and python3 from Debian); skips without a Docker engine."""
    try:
        client = connect()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    base = plan_images([])[0]
    try:
        ImageBuilder(client, progress=lambda line: None).ensure([base])
    finally:
        client.close()
    return base.tag
