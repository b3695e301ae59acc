"""Mistakes in how a scenario uses the harness: reported as verdict ``error``, never as ``fail``.

A scenario that names a node the topology does not have, passes an option the workload does not
know, or asks for a negative bound has not tested the cluster at all; its result must not read as a
vendor failure. Each error's message is one line that names the mistake and what would be right.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ScenarioError(ValueError):
    """A mistake in a scenario (or in the harness's own use of itself): the run says nothing about the cluster."""


class UnknownName(ScenarioError):
    """A name (node, group, option, fault) the scenario used does not exist; the message lists the known ones."""

    def __init__(self, kind: str, name: object, known: Iterable[str], plural: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        known_text = ", ".join(self.known) if self.known else "none"
        near = difflib.get_close_matches(str(name), self.known, n=1, cutoff=0.8)
        hint = f" (did you mean `{near[0]}`?)" if near else ""
        plural = plural or (f"{kind[:-1]}ies" if kind.endswith("y") else f"{kind}s")
        super().__init__(f"unknown {kind} `{name}`{hint}; known {plural} {known_text}")


class InvalidOption(ScenarioError):
    """An option's value is out of range or of the wrong kind: ``<where>: <option> must be ..., not ...``."""

    def __init__(self, where: str, option: str, requirement: str, value: object) -> None:
        super().__init__(f"{where}: {option} must be {requirement}, not {value!r}")


def require_non_negative(where: str, **values: float | int | None) -> None:
    """Raise InvalidOption for the first value that is negative (None means "not set" and passes)."""
    for option, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidOption(where, option, "a number", value)
        if value < 0:
            raise InvalidOption(where, option, "zero or more", value)
