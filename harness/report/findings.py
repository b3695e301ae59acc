"""Known findings: a documented vendor failure names what it expects to fail, so that any other
failure of the same scenario still counts against the vendor.

``@pytest.mark.known_finding(vendor="activemq", expects=("split_brain",), reason="...")`` excuses a
failure only when everything that failed is named in ``expects``:

- a figure ``Verdict.require`` found other than required (``lost``, ``stranded``, ``split_brain`` ...),
  or the checker reporting it (``total-queue``, ``split-brain`` ...);
- a checker that was invalid: covered by its own name, or by one of its figures named in ``expects``
  whose value shows the finding happened (non-zero, true);
- any other failure by its kind: ``assertion`` (a scenario's own ``assert``), ``timeout`` (the cluster
  did not serve in time), ``cluster`` (no master, a node that would not become a slave), ``client``
  (the brokers refused or dropped a client), ``node`` (a broker that died on restart).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from harness.checkers.verdict import RequirementFailed
from harness.client.errors import ClientError
from harness.cluster import ClusterError
from harness.runtime.base import NodeError

# Failures that are not a verdict's, by kind; anything else the plugin counts as a failure is an assertion.
FAILURE_KINDS: dict[str, type[BaseException]] = {
    "cluster": ClusterError,
    "node": NodeError,
    "client": ClientError,
    "timeout": TimeoutError,
}
ASSERTION = "assertion"


def check_expects(expects: object, where: str) -> tuple[str, ...]:
    """``expects`` as a tuple of names, or a ValueError saying what a known finding must name."""
    if isinstance(expects, str):
        expects = (expects,)
    if (
        not isinstance(expects, tuple | list)
        or not expects
        or not all(isinstance(name, str) and name for name in expects)
    ):
        raise ValueError(
            f"{where}: known_finding needs expects=(...), the figures or checkers that fail (e.g. "
            f"expects=('lost',) or ('split_brain',)) or the kinds of failure ({', '.join(failure_kinds())}), "
            f"not {expects!r}"
        )
    return tuple(expects)


def failure_kinds() -> tuple[str, ...]:
    return (*FAILURE_KINDS, ASSERTION)


def kind_of(exc: BaseException) -> str:
    for kind, exception_type in FAILURE_KINDS.items():
        if isinstance(exc, exception_type):
            return kind
    return ASSERTION


def _happened(value: Any) -> bool:
    """Whether a figure's value shows something went wrong (a count above zero, a true flag, a list)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0
    return bool(value)


def unexpected(exc: BaseException, expects: Collection[str]) -> list[str]:
    """What of the failure ``exc`` a known finding expecting ``expects`` does not cover; empty when the
    failure is the finding."""
    expected = set(expects)
    if not isinstance(exc, RequirementFailed):
        kind = kind_of(exc)
        return [] if kind in expected else [f"a failure of kind {kind}"]
    known = set(exc.owners) | set(exc.owners.values()) | set(failure_kinds()) | set(exc.failed_checkers)
    unknown = sorted(expected - known)
    missed = [f"expects names {name!r}, which no checker of this verdict reports" for name in unknown]
    for figure, value in exc.figures.items():
        if figure not in expected and exc.owners.get(figure) not in expected:
            missed.append(f"{figure} = {value!r}")
    for checker, figures in exc.failed_checkers.items():
        if checker in expected:
            continue
        if not any(name in expected and _happened(value) for name, value in figures.items()):
            missed.append(f"checker {checker} failed")
    return missed
