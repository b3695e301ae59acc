"""Ownership: one live consumer at a time holds a message group, or an exclusive queue.

Both rules have one shape. A consumer session takes hold of a thing (a message group; the whole queue,
for an exclusive consumer) on a broker with its first delivery of it there, and holds it until the
session ends (the consumer closed, or lost its connection). Another session receiving the thing on
the same broker while the holder's session is live is a *move*: the broker forgot the owner (groups),
or let a second consumer take over from a live one (exclusivity). Holdings are per broker node: a
new master knows nothing of the old master's owners, so after a failover the first consumer to
receive from the new master holds the thing there.

Groups: a delivery with ``meta["group_seq"] == 1`` reassigns its group (no move), and a negative
``group_seq`` closes it after that delivery (JMSXGroupSeq). Exclusivity: only sessions subscribed
with ``exclusive`` take hold; while one holds the queue nobody else may receive from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checkers._common import MAX_DETAILS, HistoryLike, as_ops, delivery_ops, jsonable, origin_ns, rel_ms, where
from harness.checkers.sessions import Session, Sessions, consumer_sessions
from harness.history import Op


@dataclass(frozen=True)
class Move:
    """A thing delivered to ``to`` while ``holder`` still held it on ``node``."""

    thing: str
    node: str | None
    holder: int | str
    held_since_ms: float
    to: int | str
    at_ms: float


@dataclass(frozen=True)
class OwnershipResult:
    valid: bool
    rule: str  # "group-ownership" or "exclusivity"
    things: int  # groups (or exclusive destinations) checked
    holdings: int  # times a session took hold of one
    moves: int  # deliveries to another session while the holder was live
    untracked_deliveries: int  # deliveries of consumers that recorded no sessions: not checked
    move_list: list[Move]
    problems: list[str]

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        text = f"{self.rule} {verdict}: {self.things} checked, {self.holdings} holdings, {self.moves} moves"
        if self.untracked_deliveries:
            text += f", {self.untracked_deliveries} deliveries without consumer sessions not checked"
        return text

    def figures(self) -> dict[str, Any]:
        name = "group_moves" if self.rule == "group-ownership" else "exclusive_overlaps"
        return {name: self.moves}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


@dataclass
class _Holding:
    session: Session
    since: Op


Thing = Callable[[Op, Session], str | None]


def _check(ops: Sequence[Op], rule: str, thing_of: Thing, takes_hold: Callable[[Session], bool]) -> OwnershipResult:
    origin = origin_ns(ops)
    sessions = consumer_sessions(ops)
    if not any(map(takes_hold, sessions.all)):
        # Nobody ever holds anything (no exclusive consumer, say): no move is possible, only count things.
        return _unheld(ops, rule, thing_of, sessions)
    holders: dict[tuple[str, str | None], _Holding] = {}
    things: set[str] = set()
    holdings = 0
    moves: list[Move] = []
    problems: list[str] = []
    for op, session in zip(delivery_ops(ops), sessions.of_deliveries, strict=True):
        if session is None:
            continue
        thing = thing_of(op, session)
        if thing is None:
            continue
        things.add(thing)
        slot = (thing, op.node)
        holding = holders.get(slot)
        reassigned = op.meta.get("group_seq") == 1
        if (
            holding is not None
            and holding.session is not session
            and holding.session.live_at(op.time_ns)
            and not reassigned
        ):
            moves.append(
                Move(
                    thing,
                    op.node,
                    holding.session.process,
                    rel_ms(holding.since.time_ns, origin),
                    op.process,
                    rel_ms(op.time_ns, origin),
                )
            )
            if len(problems) < MAX_DETAILS:
                problems.append(
                    f"{thing} delivered to consumer {op.process} {where(op, origin)} while consumer "
                    f"{holding.session.process} held it (since its delivery {where(holding.since, origin)}) "
                    "and was still subscribed: expected one live consumer at a time"
                )
            holding = None
        if (holding is None or holding.session is not session) and takes_hold(session):
            holders[slot] = _Holding(session, op)
            holdings += 1
        group_seq = op.meta.get("group_seq")
        if isinstance(group_seq, int) and group_seq < 0:
            holders.pop(slot, None)
    if len(moves) > MAX_DETAILS:
        problems.append(f"and {len(moves) - MAX_DETAILS} more moves")
    return OwnershipResult(
        valid=not moves,
        rule=rule,
        things=len(things),
        holdings=holdings,
        moves=len(moves),
        untracked_deliveries=sessions.untracked,
        move_list=moves,
        problems=problems,
    )


def _unheld(ops: Sequence[Op], rule: str, thing_of: Thing, sessions: Sessions) -> OwnershipResult:
    """What ``_check`` finds when no session takes hold: the things delivered, no holding, no move."""
    things = {
        thing
        for op, session in zip(delivery_ops(ops), sessions.of_deliveries, strict=True)
        if session is not None and (thing := thing_of(op, session)) is not None
    }
    return OwnershipResult(
        valid=True,
        rule=rule,
        things=len(things),
        holdings=0,
        moves=0,
        untracked_deliveries=sessions.untracked,
        move_list=[],
        problems=[],
    )


def _named(names: dict[tuple[Any, ...], str], template: str, *parts: Any) -> str:
    """``template.format(*parts)``, made once per distinct parts: a thing is named at every delivery."""
    try:
        name = names.get(parts)
    except TypeError:  # a part that is not hashable: named every time
        return template.format(*parts)
    if name is None:
        name = names[parts] = template.format(*parts)
    return name


def check_group_ownership(history: HistoryLike) -> OwnershipResult:
    """Two live consumers never hold one message group at overlapping times (see module doc)."""

    names: dict[tuple[Any, ...], str] = {}

    def group(op: Op, session: Session) -> str | None:
        found = op.meta.get("group")
        if not found:
            return None
        return _named(names, "group {} of {}", found, op.meta.get("destination", session.destination))

    return _check(as_ops(history), "group-ownership", group, lambda session: True)


def check_exclusivity(history: HistoryLike) -> OwnershipResult:
    """While an exclusive consumer holds a queue, nobody else receives from it (see module doc)."""
    names: dict[tuple[Any, ...], str] = {}

    def queue(op: Op, session: Session) -> str | None:
        return _named(names, "exclusive queue {}", op.meta.get("destination", session.destination))

    return _check(as_ops(history), "exclusivity", queue, lambda session: session.exclusive)
