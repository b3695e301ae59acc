"""Total-queue checker: every acknowledged message is delivered, nothing is delivered that was not sent.

Modelled on Jepsen's ``total-queue``: it compares the set of attempted sends (split by outcome) with
the multiset of deliveries, after the run has drained every queue. When receipted messages were still
missing after that drain, the workload restarts every node and drains once more: a message first
delivered then is *stranded* (stored, but undeliverable until a restart), one never delivered is *lost*.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from itertools import compress, filterfalse, repeat
from typing import Any

from harness.checkers._common import (
    MAX_DETAILS,
    HistoryLike,
    SendRecord,
    as_ops,
    deliveries_by_key,
    fmt_ms,
    format_keys,
    is_after_restart,
    is_drain,
    jsonable,
    origin_ns,
    rel_ms,
    send_records,
    sorted_keys,
    where,
)
from harness.history import MessageKey, Op


@dataclass(frozen=True)
class TotalQueueResult:
    """Figures are counts of distinct message keys unless said otherwise."""

    valid: bool
    exactly_once: bool
    attempted: int  # keys whose send was invoked
    acknowledged: int  # ... and receipted (ok)
    failed: int  # ... and definitely not sent (fail)
    indeterminate: int  # ... with an unknown outcome (info, or no completion before the history ended)
    received: int  # distinct keys delivered at least once
    deliveries: int  # all deliveries, duplicates included
    received_in_drain: int  # keys first delivered by the final drain
    lost: int  # acknowledged, never delivered, not even after every node was restarted
    stranded: int  # acknowledged, delivered only by the drain after every node was restarted
    unexpected: int  # delivered, never attempted
    duplicated: int  # extra deliveries: sum over keys of (deliveries - 1)
    recovered: int  # indeterminate sends that were delivered
    unacknowledged_received: int  # failed sends that were delivered (must not happen)
    lost_keys: list[MessageKey]
    stranded_keys: list[MessageKey]
    unexpected_keys: list[MessageKey]
    recovered_keys: list[MessageKey]
    unacknowledged_received_keys: list[MessageKey]
    duplicates: dict[MessageKey, int]  # key -> number of deliveries, for keys delivered more than once
    problems: list[str]

    def summary(self) -> str:
        verdict = "valid" if self.valid else "INVALID"
        text = (
            f"total-queue {verdict}: {self.attempted} attempted, {self.acknowledged} acknowledged, "
            f"{self.received} received, {self.lost} lost, {self.stranded} stranded, {self.unexpected} unexpected, "
            f"{self.duplicated} duplicated, {self.recovered} recovered"
        )
        if self.unacknowledged_received:
            text += f", {self.unacknowledged_received} failed sends received"
        return text

    def figures(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "acknowledged": self.acknowledged,
            "received": self.received,
            "lost": self.lost,
            "stranded": self.stranded,
            "duplicated": self.duplicated,
            "unexpected": self.unexpected,
            "recovered": self.recovered,
            "unacknowledged_received": self.unacknowledged_received,
        }

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


_outcome = operator.attrgetter("outcome")
_meta = operator.attrgetter("meta")
_drain = operator.methodcaller("get", "drain")
_after_restart = operator.methodcaller("get", "after_restart")


def _describe_deliveries(deliveries: list[Op], origin: int) -> str:
    parts = []
    for op in deliveries[:MAX_DETAILS]:
        text = f"consumer {op.process} {where(op, origin)}"
        if op.meta.get("redelivered"):
            text += " (redelivered)"
        if is_after_restart(op):
            text += " (drain after restarting every node)"
        elif is_drain(op):
            text += " (drain)"
        parts.append(text)
    if len(deliveries) > MAX_DETAILS:
        parts.append(f"and {len(deliveries) - MAX_DETAILS} more")
    return ", ".join(parts)


def _completed(send: SendRecord, origin: int) -> str:
    return where(send.completion, origin) if send.completion is not None else "(no completion recorded)"


def check_total_queue(history: HistoryLike, *, exactly_once: bool = False) -> TotalQueueResult:
    """Check that acknowledged sends were delivered and that nothing unsent was delivered.

    Valid iff no acknowledged message was lost, no unexpected message was delivered, no send that
    failed definitely was delivered, and, with ``exactly_once``, no message was delivered twice.
    """
    ops = as_ops(history)
    origin = origin_ns(ops)
    sends = send_records(ops)

    by_key = deliveries_by_key(ops)
    deliveries = by_key.of
    # Whole-collection passes in C (compress, map, filterfalse) rather than a loop per key, and no set of
    # every key beside the maps that have them already: a long history has millions of keys.
    received = by_key.first  # each delivered key, with its first delivery
    sent, records = list(sends), list(sends.values())
    outcomes = list(map(_outcome, records))
    is_acknowledged = list(map(operator.eq, outcomes, repeat("ok")))
    acknowledged = sum(is_acknowledged)
    failed = set(compress(sent, map(operator.eq, outcomes, repeat("fail"))))
    indeterminate = set(compress(sent, map(operator.eq, outcomes, repeat("info"))))
    del sent, records, outcomes

    lost = sorted_keys(filterfalse(received.__contains__, compress(sends, is_acknowledged)))
    # Only a key whose last delivery came from the drain after the restart can be stranded.
    restarted = {
        k for k in compress(received, map(_after_restart, map(_meta, received.values()))) if k not in by_key.more
    }
    restarted.update(k for k, found in by_key.more.items() if found[-1].meta.get("after_restart"))
    stranded = sorted_keys(
        k for k in restarted if k in sends and sends[k].outcome == "ok" and all(map(is_after_restart, deliveries(k)))
    )
    unexpected = sorted_keys(filterfalse(sends.__contains__, received))
    recovered = sorted_keys(k for k in indeterminate if k in received)
    unacked_received = sorted_keys(k for k in failed if k in received)
    duplicates = {k: len(by_key.more[k]) for k in sorted_keys(by_key.more)}
    duplicated = sum(n - 1 for n in duplicates.values())
    in_drain = sum(map(bool, map(_drain, map(_meta, by_key.first.values()))))

    problems: list[str] = []
    if lost:
        problems.append(
            f"{len(lost)} acknowledged message(s) lost (send receipted, never delivered, not even by the "
            f"final drain): {format_keys(lost)}"
        )
        for key in lost[:MAX_DETAILS]:
            send = sends[key]
            problems.append(
                f"lost {key}: expected a delivery after its send was receipted "
                f"{_completed(send, origin)} (invoked by process {send.invoke.process} at "
                f"{fmt_ms(rel_ms(send.invoke.time_ns, origin))}); saw none"
            )
    if stranded:
        problems.append(
            f"{len(stranded)} acknowledged message(s) stranded (stored, but delivered only after every node "
            f"was restarted): {format_keys(stranded)}"
        )
        for key in stranded[:MAX_DETAILS]:
            send = sends[key]
            problems.append(
                f"stranded {key}: its send was receipted {_completed(send, origin)}; expected a delivery "
                f"before the restart, saw only {_describe_deliveries(deliveries(key), origin)}"
            )
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected message(s) delivered but never sent: {format_keys(unexpected)}")
        for key in unexpected[:MAX_DETAILS]:
            problems.append(
                f"unexpected {key}: no send of it was invoked, yet it was delivered to "
                f"{_describe_deliveries(deliveries(key), origin)}"
            )
    if unacked_received:
        problems.append(
            f"{len(unacked_received)} message(s) whose send failed definitely were delivered: "
            f"{format_keys(unacked_received)}"
        )
        for key in unacked_received[:MAX_DETAILS]:
            send = sends[key]
            error = send.completion.meta.get("error") if send.completion is not None else None
            problems.append(
                f"failed send delivered {key}: the send failed {_completed(send, origin)}"
                + (f" ({error})" if error else "")
                + ", so no delivery was expected; saw delivery to "
                + _describe_deliveries(deliveries(key), origin)
            )
    if exactly_once and duplicates:
        problems.append(
            f"{duplicated} duplicate deliveries of {len(duplicates)} message(s) where exactly-once is "
            f"required: {format_keys(duplicates)}"
        )
        for key, n in list(duplicates.items())[:MAX_DETAILS]:
            problems.append(
                f"duplicate {key}: expected one delivery, saw {n}: " + _describe_deliveries(deliveries(key), origin)
            )

    valid = not lost and not stranded and not unexpected and not unacked_received and not (exactly_once and duplicated)
    return TotalQueueResult(
        valid=valid,
        exactly_once=exactly_once,
        attempted=len(sends),
        acknowledged=acknowledged,
        failed=len(failed),
        indeterminate=len(indeterminate),
        received=len(received),
        deliveries=len(received) + duplicated,
        received_in_drain=in_drain,
        lost=len(lost),
        stranded=len(stranded),
        unexpected=len(unexpected),
        duplicated=duplicated,
        recovered=len(recovered),
        unacknowledged_received=len(unacked_received),
        lost_keys=lost,
        stranded_keys=stranded,
        unexpected_keys=unexpected,
        recovered_keys=recovered,
        unacknowledged_received_keys=unacked_received,
        duplicates=duplicates,
        problems=problems,
    )
