"""Runtimes: where broker nodes run. ``local`` runs them as processes on 127.0.0.1; ``docker``
(harness.runtime.docker, imported on demand) as containers on a private network per cluster.

Every runtime hands out nodes with the same interface (start, stop, kill, pause, resume, restart, logs).
"""

from harness.runtime.base import Node, NodeError, Runtime
from harness.runtime.local import LocalNode, LocalRuntime

__all__ = ["LocalNode", "LocalRuntime", "Node", "NodeError", "Runtime"]
