"""Networks-of-brokers checkers: stuck messages, duplicates across bridges, ordering across a bridge, load spread.

Pure functions of a history like the other checkers. A message *crossed a bridge* when the broker
that delivered it is not the broker that receipted its send. Consumers' presence comes from their
``subscribed`` / ``unsubscribed`` records (the final drain's consumers are not counted as demand: they
come after the run, to find what is left where).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

from harness.checkers._common import (
    MAX_DETAILS,
    HistoryLike,
    MessageIdentity,
    as_ops,
    completions,
    fmt_ms,
    format_keys,
    is_client,
    is_delivery,
    is_drain,
    message_identity,
    send_records,
    sorted_keys,
    span_ms,
)
from harness.checkers.verdict import Checker
from harness.history import ACK, SUBSCRIBED, UNSUBSCRIBED, MessageKey, Op

# A message waiting this long while some consumer was connected somewhere is stuck, by default.
DEFAULT_STUCK_BOUND_MS = 10_000.0


@dataclass(frozen=True)
class StuckResult:
    """``stuck``: acknowledged messages that waited longer than ``bound_ms`` while a consumer was
    connected somewhere in the network; ``max_wait_ms``: the longest such wait of any message."""

    valid: bool
    bound_ms: float
    checked: int  # acknowledged messages delivered at some point (lost ones are total-queue's)
    stuck: int
    max_wait_ms: float
    stuck_keys: list[MessageKey]
    found_on: dict[str, int]  # where stuck messages were finally delivered: node -> count
    problems: list[str]

    def figures(self) -> dict[str, Any]:
        return {"stuck": self.stuck, "max_stuck_wait_ms": self.max_wait_ms, "stuck_found_on": self.found_on}

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        return (
            f"stuck {verdict}: {self.stuck} of {self.checked} delivered messages waited over "
            f"{fmt_ms(self.bound_ms)} with a consumer connected; longest wait {fmt_ms(self.max_wait_ms)}"
        )


def _presence(ops: Sequence[Op]) -> list[tuple[int, int]]:
    """Intervals (ns) during which at least one (non-drain) consumer was subscribed somewhere."""
    events: list[tuple[int, int]] = []
    open_since: dict[int | str, int] = {}
    for op in ops:
        if not is_client(op) or is_drain(op) or op.type != "ok":
            continue
        if op.f == SUBSCRIBED:
            open_since.setdefault(op.process, op.time_ns)
        elif op.f == UNSUBSCRIBED and op.process in open_since:
            events.append((open_since.pop(op.process), op.time_ns))
    end = max((op.time_ns for op in ops), default=0)
    events.extend((start, end) for start in open_since.values())
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(events):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _covered_ns(intervals: list[tuple[int, int]], start: int, stop: int) -> int:
    return sum(max(0, min(stop, b) - max(start, a)) for a, b in intervals)


def check_stuck(history: HistoryLike, bound_ms: float = DEFAULT_STUCK_BOUND_MS) -> StuckResult:
    """Every acknowledged message is delivered within ``bound_ms`` of consumer presence after its receipt.

    The wait counts only the time some consumer was connected (anywhere): a message that waits while no
    one consumes is not stuck, one that sits on a broker whose consumers moved away is.
    """
    ops = as_ops(history)
    presence = _presence(ops)
    first_delivery: dict[MessageKey, Op] = {}
    for op in ops:
        if is_delivery(op) and op.key not in first_delivery:
            first_delivery[op.key] = op
    waits: dict[MessageKey, float] = {}
    for key, record in send_records(ops).items():
        if record.outcome != "ok" or record.completion is None or key not in first_delivery:
            continue
        delivered = first_delivery[key]
        waits[key] = _covered_ns(presence, record.completion.time_ns, delivered.time_ns) / 1e6
    stuck = sorted_keys(k for k, w in waits.items() if w > bound_ms)
    found_on = Counter(first_delivery[k].node or "?" for k in stuck)
    problems = []
    if stuck:
        longest = max(stuck, key=lambda k: waits[k])
        problems.append(
            f"{len(stuck)} messages waited over {fmt_ms(bound_ms)} while a consumer was connected "
            f"(longest {longest}: {fmt_ms(round(waits[longest], 1))}); finally delivered on "
            + ", ".join(f"{node} ({n})" for node, n in sorted(found_on.items()))
            + f": {format_keys(stuck)}"
        )
    return StuckResult(
        valid=not stuck,
        bound_ms=bound_ms,
        checked=len(waits),
        stuck=len(stuck),
        max_wait_ms=round(max(waits.values(), default=0.0), 1),
        stuck_keys=stuck,
        found_on=dict(found_on),
        problems=problems,
    )


@dataclass(frozen=True)
class BridgeDuplicatesResult:
    """Messages delivered more than once by different brokers (a bridge forwarded one twice).

    ``after_receipted_ack``: of those, delivered again after a consumer's ack of it was receipted:
    the broken promise that makes the check fail. Other cross-bridge duplicates are at-least-once.
    """

    valid: bool
    cross_bridge_duplicates: int
    after_receipted_ack: int
    keys: list[MessageKey]
    problems: list[str]

    def figures(self) -> dict[str, Any]:
        return {
            "cross_bridge_duplicates": self.cross_bridge_duplicates,
            "cross_bridge_duplicates_after_ack": self.after_receipted_ack,
        }

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        return (
            f"bridge-duplicates {verdict}: {self.cross_bridge_duplicates} messages delivered by two brokers, "
            f"{self.after_receipted_ack} of them after a receipted ack"
        )


def check_bridge_duplicates(history: HistoryLike) -> BridgeDuplicatesResult:
    """Deliveries are told apart by message identity (key and broker message-id), as the
    redelivered-after-ack checker does: a producer's resend after a lost receipt is another message,
    which another broker may deliver after the first copy's ack without breaking a promise."""
    ops = as_ops(history)
    done = completions(ops)
    deliveries: dict[MessageIdentity, list[Op]] = defaultdict(list)
    latest: dict[tuple[int | str, MessageKey], Op] = {}  # the delivery an ACK of the key acknowledges
    acked_at: dict[MessageIdentity, int] = {}
    for op in ops:
        if is_delivery(op):
            deliveries[message_identity(op)].append(op)
            latest[(op.process, op.key)] = op
        elif is_client(op) and op.f == ACK and op.type == "invoke" and isinstance(op.value, MessageKey):
            completion = done.get(op.index)
            delivery = latest.get((op.process, op.value))
            if completion is not None and completion.type == "ok" and delivery is not None:
                acked_at.setdefault(message_identity(delivery), completion.time_ns)
    crossing_ids = [i for i, ds in deliveries.items() if len({d.node for d in ds}) > 1]
    after_ack_ids = [
        i
        for i in crossing_ids
        if (at := acked_at.get(i, acked_at.get((i[0], None)))) is not None
        and any(d.time_ns > at for d in deliveries[i])
    ]
    crossing = sorted_keys({i[0] for i in crossing_ids})
    after_ack = sorted_keys({i[0] for i in after_ack_ids})
    by_key: dict[MessageKey, list[Op]] = defaultdict(list)
    for identity in after_ack_ids:
        by_key[identity[0]] += deliveries[identity]
    problems = []
    if after_ack:
        problems.append(
            f"{len(after_ack)} messages delivered again by another broker after their ack was receipted: "
            + "; ".join(f"{k} on " + ", ".join(str(d.node) for d in by_key[k]) for k in after_ack[:MAX_DETAILS])
        )
    return BridgeDuplicatesResult(
        valid=not after_ack,
        cross_bridge_duplicates=len(crossing),
        after_receipted_ack=len(after_ack),
        keys=crossing,
        problems=problems,
    )


@dataclass(frozen=True)
class BridgeOrderingResult:
    """Backward steps in a consumer's view of one producer among messages that crossed a bridge.

    ActiveMQ does not promise order across a bridge, so by default this is a figure, valid whatever
    it is; ``promised=True`` makes any backward step a failure.
    """

    valid: bool
    promised: bool
    crossed: int  # first deliveries that came through a bridge (delivering broker != receipting broker)
    reordered: int
    examples: list[str]
    problems: list[str]

    def figures(self) -> dict[str, Any]:
        return {"bridge_crossed": self.crossed, "bridge_reordered": self.reordered}

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        return (
            f"bridge-ordering {verdict}: {self.reordered} backward steps among {self.crossed} messages "
            f"that crossed a bridge ({'promised' if self.promised else 'a figure, not promised'})"
        )


def check_bridge_ordering(history: HistoryLike, promised: bool = False) -> BridgeOrderingResult:
    ops = as_ops(history)
    sent_on = {k: r.node for k, r in send_records(ops).items() if r.outcome == "ok"}
    seen: set[tuple[int | str, MessageKey]] = set()
    highest: dict[tuple[int | str, str], int] = {}
    crossed = reordered = 0
    examples: list[str] = []
    for op in ops:
        if not is_delivery(op) or is_drain(op) or op.meta.get("redelivered"):
            continue
        key = op.key
        if (op.process, key) in seen:
            continue
        seen.add((op.process, key))
        if sent_on.get(key) is None or sent_on[key] == op.node:
            continue
        crossed += 1
        slot = (op.process, key.producer)
        if slot in highest and key.seq < highest[slot]:
            reordered += 1
            if len(examples) < MAX_DETAILS:
                examples.append(f"consumer {op.process} got {key} on {op.node} after {key.producer}#{highest[slot]}")
        highest[slot] = max(highest.get(slot, key.seq), key.seq)
    problems = [f"{reordered} backward steps across a bridge: " + "; ".join(examples)] if promised and reordered else []
    return BridgeOrderingResult(
        valid=not (promised and reordered),
        promised=promised,
        crossed=crossed,
        reordered=reordered,
        examples=examples,
        problems=problems,
    )


@dataclass(frozen=True)
class LoadSpreadResult:
    """How deliveries spread over the run's consumers (the drain excluded).

    ``shares``: consumer process -> fraction of deliveries. With ``min_share`` set, a consumer that
    got less than that fraction fails the check (e.g. a consumer broker starved by a broken bridge).
    """

    valid: bool
    min_share: float | None
    deliveries: dict[str, int]
    shares: dict[str, float]
    nodes: dict[str, str]  # consumer process -> the broker that delivered to it most
    longest_gap_ms: float  # the longest time without any delivery to the run's consumers
    problems: list[str]

    def figures(self) -> dict[str, Any]:
        return {
            "consumer_deliveries": self.deliveries,
            "consumer_shares": self.shares,
            "longest_delivery_gap_ms": self.longest_gap_ms,
        }

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        spread = ", ".join(f"{p}@{self.nodes.get(p, '?')}: {n}" for p, n in sorted(self.deliveries.items()))
        return f"load-spread {verdict}: {spread or 'no deliveries'}"


def check_load_spread(history: HistoryLike, min_share: float | None = None) -> LoadSpreadResult:
    ops = as_ops(history)
    counts: Counter[str] = Counter()
    by_node: dict[str, Counter[str]] = defaultdict(Counter)
    for op in ops:
        if is_client(op) and op.f == SUBSCRIBED and op.type == "ok" and not is_drain(op):
            counts.setdefault(str(op.process), 0)
        if is_delivery(op) and not is_drain(op):
            counts[str(op.process)] += 1
            by_node[str(op.process)][op.node or "?"] += 1
    total = sum(counts.values())
    shares = {p: round(n / total, 3) if total else 0.0 for p, n in counts.items()}
    problems = []
    if min_share is not None:
        starved = sorted(p for p, share in shares.items() if share < min_share)
        if starved:
            problems.append(
                f"consumers below a {min_share:.0%} share of {total} deliveries: "
                + ", ".join(f"{p} ({counts[p]})" for p in starved)
            )
    return LoadSpreadResult(
        valid=not problems,
        min_share=min_share,
        deliveries=dict(counts),
        shares=shares,
        nodes={p: c.most_common(1)[0][0] for p, c in by_node.items()},
        longest_gap_ms=longest_gap_ms(ops),
        problems=problems,
    )


def longest_gap_ms(history: HistoryLike) -> float:
    """The longest time between two consecutive (non-drain) deliveries: how long consumers starved."""
    times = sorted(op.time_ns for op in as_ops(history) if is_delivery(op) and not is_drain(op))
    return max((span_ms(a, b) for a, b in pairwise(times)), default=0.0)


def network_checkers(
    *,
    stuck_bound_ms: float = DEFAULT_STUCK_BOUND_MS,
    order_promised: bool = False,
    min_share: float | None = None,
) -> dict[str, Checker]:
    """The networks-of-brokers checkers by name, to add to ``standard_checkers(...)``."""
    return {
        "stuck": partial(check_stuck, bound_ms=stuck_bound_ms),
        "bridge-duplicates": check_bridge_duplicates,
        "bridge-ordering": partial(check_bridge_ordering, promised=order_promised),
        "load-spread": partial(check_load_spread, min_share=min_share),
    }
