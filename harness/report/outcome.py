"""What a scenario's run means: the verdict of its result line, and why.

``fail`` means the system under test broke a promise: a check's assertion, a cluster that elected no
master or stopped serving in time, a client the brokers refused. ``error`` means the run says
nothing about the system: a mistake in the scenario (an unknown node, an unknown option, a negative
bound), a bug in the harness, the environment (a full disk, no Docker), or a run too small to show
anything (``vacuous``). The classification is by the exception that ended the run, so that a typo in
a scenario can never be counted against a vendor.
"""

from __future__ import annotations

import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness
from harness.client.errors import ClientError
from harness.cluster import ClusterError
from harness.errors import ScenarioError
from harness.network_ready import BridgesNotReady
from harness.report.results import VerdictName
from harness.runtime.base import NodeError

# A scenario that attempted fewer sends than this has not exercised the cluster: `error: vacuous`.
DEFAULT_MIN_ATTEMPTED = 50

# Exceptions by which the system under test shows it broke a promise. ClusterError: no master, two
# masters, a node that would not become a slave; NodeError: a broker that died on restart;
# TimeoutError: the cluster did not serve within the bound (receipts, wait_for_traffic);
# ClientError: the brokers refused or dropped a client.
FAILURE_TYPES: tuple[type[BaseException], ...] = (AssertionError, ClusterError, NodeError, TimeoutError, ClientError)


@dataclass(frozen=True)
class Outcome:
    verdict: VerdictName
    reason: str | None = None


def one_line(text: str, limit: int = 300) -> str:
    """The first line of a message, cut to ``limit`` characters."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


# Frames under these directories are the harness's or a library's, never the scenario's.
_NOT_SCENARIO = tuple(
    str(Path(path).resolve())
    for path in (
        Path(harness.__file__).parent,
        Path(pytest.__file__).parent.parent,  # site-packages (or wherever pytest lives)
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
    )
)


def _where(exc: BaseException, also_not_scenario: tuple[str, ...]) -> str:
    """``file:line`` of the innermost frame outside the harness, the libraries and the standard library:
    the scenario's line (or the plugin's, for a fixture)."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    for frame in reversed(frames):
        if not str(Path(frame.filename).resolve()).startswith(_NOT_SCENARIO + also_not_scenario):
            return f"{Path(frame.filename).name}:{frame.lineno}"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


def classify_exception(
    exc: BaseException,
    failure_types: tuple[type[BaseException], ...] = FAILURE_TYPES,
    library_dirs: tuple[str, ...] = (),
) -> Outcome:
    """The verdict for a scenario that ended with ``exc``, and a one-line reason naming the scenario's line.

    ``failure_types`` lets the caller add its own (e.g. pytest's ``pytest.fail`` exception);
    ``library_dirs`` are more directories whose frames are not the scenario's (the pytest plugin's).
    A ScenarioError is checked first: it is a mistake even though it is a ValueError.
    """
    where = _where(exc, tuple(str(Path(d).resolve()) for d in library_dirs))
    at = f" (at {where})" if where else ""
    if isinstance(exc, ScenarioError):
        return Outcome("error", f"scenario mistake: {one_line(str(exc))}{at}")
    if isinstance(exc, BridgesNotReady):
        # The network never became what the scenario asked for: its faults would have measured start-up.
        return Outcome("error", one_line(str(exc)))
    if isinstance(exc, failure_types):
        return Outcome("fail", one_line(str(exc)) or type(exc).__name__)
    if isinstance(exc, TypeError | NameError | AttributeError | ImportError | SyntaxError | LookupError | ValueError):
        # Python's own errors for wrong names and arguments: in a scenario that is a typo, in the
        # harness a bug; either way the cluster was not what stopped the run.
        return Outcome("error", f"scenario or harness mistake: {type(exc).__name__}: {one_line(str(exc))}{at}")
    if isinstance(exc, OSError):
        return Outcome("error", f"environment: {type(exc).__name__}: {one_line(str(exc))}{at}")
    return Outcome("error", f"harness error: {type(exc).__name__}: {one_line(str(exc))}{at}")


def vacuous(attempted: int, floor: int) -> Outcome | None:
    """``error: vacuous`` when a workload attempted fewer sends than ``floor``, else None."""
    if attempted >= floor:
        return None
    return Outcome(
        "error",
        f"vacuous: the workload attempted {attempted} sends, fewer than the floor of {floor} (keep the load "
        f"running longer, e.g. workload.wait_for_traffic(), or set @pytest.mark.min_attempted(n))",
    )
