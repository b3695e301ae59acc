"""Consumer sessions: when each consumer held a subscription on a broker, read from the history.

A session of a consumer process runs from its ``subscribed`` record (or its first delivery after the
previous session ended, when the failover client's "resumed" is recorded after the first messages of
the new connection) to its ``unsubscribed`` record (a close on a live broker, or a lost connection), or
to the end of the history. A process with no such records (an older history) has no sessions: the
checkers that need them skip its deliveries and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.checkers._common import views
from harness.checkers._shared import shared
from harness.history import RECEIVE, SUBSCRIBED, Op


@dataclass
class Session:
    process: int | str
    destination: str | None
    exclusive: bool
    start_ns: int
    end_ns: int | None = None  # None: still subscribed when the history ends
    end_cause: str | None = None  # "close" or "interrupted"
    deliveries: list[Op] = field(default_factory=list)

    def live_at(self, time_ns: int) -> bool:
        return self.start_ns <= time_ns and (self.end_ns is None or time_ns < self.end_ns)

    def overlaps(self, other: Session) -> bool:
        mine_end = self.end_ns if self.end_ns is not None else float("inf")
        other_end = other.end_ns if other.end_ns is not None else float("inf")
        return self.start_ns < other_end and other.start_ns < mine_end


@dataclass(frozen=True)
class Sessions:
    """Every session of every consumer, and the session each delivery belongs to: ``of_deliveries`` is
    in step with the history's deliveries (``delivery_ops``), None for a delivery to an untracked
    process (a list, not a map by index: a long history has millions of deliveries)."""

    all: list[Session]
    of_deliveries: list[Session | None]
    untracked: int  # deliveries of processes that recorded no session


def consumer_sessions(ops: Sequence[Op]) -> Sessions:
    """Cut each consumer's records into sessions (``ops`` in history order; built once per run)."""
    return shared("consumer-sessions", ops, _consumer_sessions)


def _consumer_sessions(ops: Sequence[Op]) -> Sessions:
    found = views(ops)
    tracked = found.session_processes
    current: dict[int | str, Session] = {}
    last: dict[int | str, Session] = {}
    sessions: list[Session] = []
    of_deliveries: list[Session | None] = []
    untracked = 0
    for op in found.session_events:  # deliveries (named receive) and session records
        if op.f == RECEIVE:
            if op.process not in tracked:
                untracked += 1
                of_deliveries.append(None)
                continue
            session = current.get(op.process)
            if session is None:
                # Messages of a new connection can be recorded before the client reports it resumed.
                previous = last.get(op.process)
                session = Session(
                    op.process,
                    op.meta.get("destination", previous.destination if previous else None),
                    previous.exclusive if previous else False,
                    op.time_ns,
                )
                current[op.process] = session
                sessions.append(session)
            session.deliveries.append(op)
            of_deliveries.append(session)
        else:
            value = op.value if isinstance(op.value, dict) else {}
            if op.f == SUBSCRIBED:
                if op.process not in current:
                    session = Session(
                        op.process, value.get("destination"), bool(value.get("exclusive", False)), op.time_ns
                    )
                    current[op.process] = session
                    sessions.append(session)
            else:
                ending = current.pop(op.process, None)
                if ending is not None:
                    ending.end_ns = op.time_ns
                    ending.end_cause = str(value.get("cause", "close"))
                    last[op.process] = ending
    return Sessions(sessions, of_deliveries, untracked)
