"""The fence check of a master term: whether this node may still confirm anything to a client.

Shared vocabulary of every layer: a lifecycle (ha/) makes the fence from its evidence (the fencing
epoch, the database lock), the store runs it before resolving a write, the core before dispatching,
a STOMP connection before a receipt.
"""

from __future__ import annotations

from collections.abc import Callable


class Fence:
    """The fence check of one master term.

    ``check()`` re-reads the epoch and returns False once it differs from the term (or cannot be
    read). The first failure calls ``on_deposed`` with the reason; the result then stays False.
    """

    def __init__(self, term: int, read_epoch: Callable[[], int], on_deposed: Callable[[str], None]) -> None:
        self.term = term
        self._read = read_epoch
        self._on_deposed = on_deposed
        self.reason: str | None = None

    @property
    def deposed(self) -> bool:
        return self.reason is not None

    def check(self) -> bool:
        if self.reason is not None:
            return False
        problem = self.problem()
        if problem is not None:
            return self.depose(problem)
        return True

    def problem(self) -> str | None:
        """Why this node may no longer be master, or None. Subclasses check other evidence."""
        try:
            current = self._read()
        except (OSError, ValueError) as exc:
            return f"cannot read the fencing epoch: {exc}"
        if current != self.term:
            return f"fencing epoch moved to {current}, this master holds epoch {self.term}"
        return None

    def depose(self, reason: str) -> bool:
        """Mark the term as over (from a failed check or any other lost guarantee); returns False."""
        if self.reason is None:
            self.reason = reason
            self._on_deposed(reason)
        return False


def always_valid() -> Fence:
    """A fence for a non-persistent broker, which has no store to share and so no rival."""
    return Fence(0, lambda: 0, lambda reason: None)
