"""Callbacks a FailoverConnection makes about its transport.

All run on the connection's dispatch thread (the one that runs subscription handlers), never on a
socket thread, so a callback may itself send or ack.
"""

from __future__ import annotations

from typing import Protocol

from harness.client.records import ErrorFrame


class FailoverListener(Protocol):
    """Every method is optional: subclass to inherit no-ops, or pass any object with some of them."""

    def transport_interrupted(self, endpoint: str, error: BaseException | None) -> None:
        """The connection to ``endpoint`` is gone; ``error`` is None for a planned priority switch."""
        return None

    def transport_resumed(self, endpoint: str) -> None:
        """Connected again (to ``endpoint``), subscriptions remade and unconfirmed sends resent."""
        return None

    def on_error(self, frame: ErrorFrame) -> None:
        """A broker sent an ERROR frame (also those answering an operation, which raises too)."""
        return None
