"""Indexes of a history built once and shared by every checker of one run.

Several checkers need the same views of a history (each key's send, the completion of each invoke,
each consumer's sessions): built again in every checker, they took most of the time of checking a
long history. While :func:`shared_indexes` is active (``run_checkers`` holds it for one run), a view
asked for twice on the same ops list is built once. Outside it nothing is kept, so a checker called
on its own behaves as before. Views are read-only by convention: checkers never change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from harness.history import Op

T = TypeVar("T")

# view name -> (the ops list it was built from, the view)
_views: ContextVar[dict[str, tuple[Sequence[Op], Any]] | None] = ContextVar("checker_views", default=None)


@contextmanager
def shared_indexes() -> Iterator[None]:
    """Share the views built inside this block between the checkers that ask for them."""
    token = _views.set({})
    try:
        yield
    finally:
        _views.reset(token)


def shared(name: str, ops: Sequence[Op], build: Callable[[Sequence[Op]], T]) -> T:
    """``build(ops)``, or the view built before from this very list (``is``, not ``==``) in this run."""
    views = _views.get()
    if views is None:
        return build(ops)
    known = views.get(name)
    if known is not None and known[0] is ops:
        value: T = known[1]
        return value
    value = build(ops)
    views[name] = (ops, value)
    return value
