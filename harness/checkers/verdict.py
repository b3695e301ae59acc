"""Checkers composed by name: a verdict is whatever results the named checkers returned.

A checker is any function from a list of operations to a result that has ``valid``, ``problems``,
``summary()`` and ``figures()``. :func:`standard_checkers` builds the project's set from a scenario's
options; a caller adds one with ``{**standard_checkers(...), "stuck": check_stuck}`` and removes one by
leaving it out. The verdict is valid iff every result is, and its figures are the union of the
results' figures (a figure name belongs to exactly one checker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from harness.checkers._common import HistoryLike, as_ops, jsonable
from harness.checkers._shared import shared_indexes
from harness.history import Op, gc_paused


class CheckResult(Protocol):
    """What every checker returns: a validity, human-readable problems and named figures."""

    @property
    def valid(self) -> bool: ...

    @property
    def problems(self) -> list[str]: ...

    def summary(self) -> str: ...

    def figures(self) -> dict[str, Any]: ...


Checker = Callable[[Sequence[Op]], CheckResult]
R = TypeVar("R")


class RequirementFailed(AssertionError):
    """``Verdict.require`` found figures other than the scenario expected, or a checker failed.

    ``figures``: each required figure that differs, with its value; ``failed_checkers``: the checkers
    that were invalid when validity was required, each with its figures (a known finding names what
    it expects from these; any other failure still counts against the vendor)."""

    def __init__(
        self, message: str, figures: dict[str, Any], failed_checkers: dict[str, dict[str, Any]], owners: dict[str, str]
    ) -> None:
        super().__init__(message)
        self.figures = figures
        self.failed_checkers = failed_checkers
        self.owners = owners  # figure name -> the checker that reports it


@dataclass(frozen=True)
class Verdict:
    """The results of named checkers on one history; valid iff every checker is valid.

    Figures read as attributes (``verdict.lost``, ``verdict.split_brain``) whatever checker contributed
    them; a scenario states what it expects with ``verdict.require(lost=0, split_brain=False)``.
    """

    results: Mapping[str, CheckResult]

    @property
    def valid(self) -> bool:
        return all(result.valid for result in self.results.values())

    def __getitem__(self, name: str) -> CheckResult:
        try:
            return self.results[name]
        except KeyError:
            raise KeyError(f"no checker named {name!r} ran; the verdict has {', '.join(self.results)}") from None

    def result(self, name: str, kind: type[R]) -> R:
        """The result of checker ``name``, typed: ``verdict.result("ordering", OrderingResult).deliveries``."""
        found = self[name]
        if not isinstance(found, kind):
            raise TypeError(f"checker {name!r} returned a {type(found).__name__}, not a {kind.__name__}")
        return found

    def figures(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for name, result in self.results.items():
            for figure, value in result.figures().items():
                if figure in merged:
                    raise ValueError(f"figure {figure!r} is reported by both {owner[figure]!r} and {name!r}")
                merged[figure] = value
                owner[figure] = name
        return merged

    def __getattr__(self, name: str) -> Any:
        # Only figures: dunder and private lookups (copy, pickle) must fail the ordinary way.
        if name.startswith("_") or name == "results":
            raise AttributeError(name)
        figures = self.figures()
        if name in figures:
            return figures[name]
        raise AttributeError(f"the verdict has no figure {name!r}; figures: {', '.join(figures)}")

    def require(self, *, valid: bool | None = True, **expected: Any) -> None:
        """The one assertion of a scenario: each named figure has its expected value and the verdict's
        validity is ``valid`` (None: not looked at), or an AssertionError names every figure that
        differs, followed by the summary.

        ``result.require(lost=0, reordered=0, split_brain=False)`` reads as what the scenario promises.
        """
        figures = self.figures()
        unknown = sorted(set(expected) - set(figures))
        if unknown:
            raise TypeError(f"require: the verdict has no figure {', '.join(unknown)}; figures: {', '.join(figures)}")
        differing = {name: figures[name] for name, want in expected.items() if figures[name] != want}
        wrong = [f"{name} = {figures[name]!r} (expected {expected[name]!r})" for name in differing]
        failed: dict[str, dict[str, Any]] = {}
        if valid is not None and self.valid != valid:
            wrong.append(f"the verdict is {self._validity()} (expected {'VALID' if valid else 'INVALID'})")
            failed = {n: r.figures() for n, r in self.results.items() if not r.valid} if valid else {"valid": {}}
        if wrong:
            owners = {figure: name for name, result in self.results.items() for figure in result.figures()}
            raise RequirementFailed("; ".join(wrong) + "\n" + self.summary(), differing, failed, owners)

    @property
    def problems(self) -> list[str]:
        """Every checker's problems, each prefixed with the checker's name."""
        return [f"[{name}] {p}" for name, result in self.results.items() for p in result.problems]

    def _validity(self) -> str:
        failing = [name for name, result in self.results.items() if not result.valid]
        return "VALID" if self.valid else f"INVALID ({', '.join(failing)} failed)"

    def summary(self) -> str:
        """What a person would write: the verdict and what became of the messages, one line per checker
        (durations as durations), then the problems."""
        head = self._validity()
        figures = self.figures()
        if "attempted" in figures:
            head += (
                f": {figures['attempted']} sends attempted, {figures.get('acknowledged', 0)} receipted, "
                f"{figures.get('received', 0)} received; {figures.get('lost', 0)} lost, "
                f"{figures.get('duplicated', 0)} duplicated, {figures.get('unexpected', 0)} unexpected"
            )
        lines = [head]
        lines.extend(f"  {result.summary()}" for result in self.results.values())
        problems = self.problems
        if problems:
            lines.append(f"problems ({len(problems)}):")
            lines.extend(f"  - {p}" for p in problems)
        return "\n".join(lines)

    def __repr__(self) -> str:
        # pytest prints the repr of what an assertion compared: one line, not every checker's fields.
        figures = self.figures()
        shown = [
            f"{k}={figures[k]!r}"
            for k in ("attempted", "lost", "duplicated", "reordered", "split_brain")
            if k in figures
        ]
        return f"Verdict(valid={self.valid}, {', '.join(shown)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: validity, the figures and every checker's full result."""
        return {
            "valid": self.valid,
            "figures": self.figures(),
            "checks": {name: jsonable(result) for name, result in self.results.items()},
        }


def run_checkers(history: HistoryLike, checkers: Mapping[str, Checker]) -> Verdict:
    """Run each named checker on the same operations, in the mapping's order."""
    with gc_paused(), shared_indexes():
        ops = as_ops(history)
        return Verdict({name: checker(ops) for name, checker in checkers.items()})
