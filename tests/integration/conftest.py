"""Fixtures for integration tests: real clusters of either vendor, stopped whatever happens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules a run imported when it ends, and numpy (under matplotlib,
# which draws the report at the end of a run) cannot be imported twice in one process: load the
# report's plotting stack here, once, before any inner run does.
import harness.report.plots  # noqa: F401
from harness.cluster import Cluster
from harness.runtime import LocalRuntime
from harness.topology.model import Topology
from harness.vendors import get_vendor


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[[str, Topology], Cluster]]:
    """Factory: ``make_cluster(broker_vendor, topology)`` starts a cluster; all are stopped at the end."""
    started: list[Cluster] = []

    def make(broker_vendor: str, topology: Topology) -> Cluster:
        runtime = LocalRuntime(tmp_path / f"cluster{len(started)}")
        cluster = stack.enter_context(Cluster(topology, get_vendor(broker_vendor), runtime))
        started.append(cluster)
        return cluster

    with ExitStack() as stack:
        yield make
