"""A small builder of histories for the checker tests: explicit times in ms, Jepsen-shaped records."""

from __future__ import annotations

from typing import Any

from harness.history import (
    ACK,
    FAULT_END,
    FAULT_START,
    NEMESIS,
    PROBE,
    PROBE_NODE,
    RECEIVE,
    SEND,
    SUBSCRIBED,
    UNSUBSCRIBED,
    History,
    MessageKey,
    Op,
    OpType,
)

MS = 1_000_000
DESTINATION = "/queue/test"


def k(text: str) -> MessageKey:
    """``k("p1#3")`` -> MessageKey("p1", 3)."""
    producer, seq = text.split("#")
    return MessageKey(producer, int(seq))


class HistoryBuilder:
    """Appends ops with a clock in ms that advances by ``step_ms`` per op unless ``at`` is given."""

    def __init__(self, step_ms: float = 1.0) -> None:
        self.ops: list[Op] = []
        self.now_ms = 0.0
        self.step_ms = step_ms
        self.producers: dict[str, int] = {}

    def add(
        self,
        process: int | str,
        type: OpType,
        f: str,
        value: Any = None,
        node: str | None = None,
        at: float | None = None,
        **meta: Any,
    ) -> Op:
        if at is None:
            at = self.now_ms + (self.step_ms if self.ops else 0.0)
        self.now_ms = at
        op = Op(len(self.ops), process, type, f, value, round(at * MS), node, dict(meta))
        self.ops.append(op)
        return op

    def process_of(self, key: MessageKey) -> int:
        return self.producers.setdefault(key.producer, 100 + len(self.producers))

    # Producers.
    def invoke_send(self, key: str, at: float | None = None, **meta: Any) -> Op:
        mk = k(key)
        return self.add(self.process_of(mk), "invoke", SEND, mk, at=at, **meta)

    def complete_send(
        self,
        key: str,
        outcome: OpType = "ok",
        node: str | None = "node1",
        at: float | None = None,
        **meta: Any,
    ) -> Op:
        mk = k(key)
        return self.add(self.process_of(mk), outcome, SEND, mk, node if outcome == "ok" else None, at, **meta)

    def send(
        self,
        key: str,
        outcome: OpType = "ok",
        node: str | None = "node1",
        at: float | None = None,
        **meta: Any,
    ) -> HistoryBuilder:
        self.invoke_send(key, at=at, **meta)
        self.complete_send(key, outcome, node)
        return self

    def sends(self, producer: str, seqs: range, outcome: OpType = "ok", node: str = "node1") -> HistoryBuilder:
        for seq in seqs:
            self.send(f"{producer}#{seq}", outcome, node)
        return self

    # Consumers.
    def receive(
        self,
        key: str,
        consumer: int = 1,
        node: str | None = "node1",
        redelivered: bool = False,
        group: str | None = None,
        drain: bool = False,
        at: float | None = None,
        message_id: str | None = None,
        after_restart: bool = False,
        group_seq: int | None = None,
    ) -> HistoryBuilder:
        """A delivery; its message-id is the key's unless given (a redelivery keeps the broker's id)."""
        meta: dict[str, Any] = {
            "redelivered": redelivered,
            "group": group,
            "destination": DESTINATION,
            "message_id": message_id or f"ID:{key}",
        }
        if drain or after_restart:
            meta["drain"] = True
        if after_restart:
            meta["after_restart"] = True
        if group_seq is not None:
            meta["group_seq"] = group_seq
        self.add(consumer, "ok", RECEIVE, k(key), node, at, **meta)
        return self

    def receives(self, producer: str, seqs: range, consumer: int = 1, node: str = "node1") -> HistoryBuilder:
        for seq in seqs:
            self.receive(f"{producer}#{seq}", consumer, node)
        return self

    def ack(self, key: str, consumer: int = 1, outcome: OpType = "ok", node: str | None = "node1") -> HistoryBuilder:
        self.add(consumer, "invoke", ACK, k(key))
        self.add(consumer, outcome, ACK, k(key), node if outcome == "ok" else None)
        return self

    def subscribe(self, consumer: int = 1, exclusive: bool = False, at: float | None = None) -> HistoryBuilder:
        value = {"destination": DESTINATION, "exclusive": exclusive, "cause": "subscribe"}
        self.add(consumer, "ok", SUBSCRIBED, value, at=at)
        return self

    def unsubscribe(self, consumer: int = 1, cause: str = "close", at: float | None = None) -> HistoryBuilder:
        self.add(consumer, "ok", UNSUBSCRIBED, {"destination": DESTINATION, "cause": cause}, at=at)
        return self

    # Nemesis and probes.
    def fault(self, fault_id: int, fault: str = "kill", target: str = "node1", at: float | None = None) -> Op:
        return self.add(NEMESIS, "info", FAULT_START, {"fault": fault, "target": target, "fault_id": fault_id}, at=at)

    def heal(self, fault_id: int, fault: str = "kill", target: str = "node1", at: float | None = None) -> Op:
        return self.add(NEMESIS, "info", FAULT_END, {"fault": fault, "target": target, "fault_id": fault_id}, at=at)

    def probe(
        self, round: int, accepting: dict[str, bool], group: str = "g1", at: float | None = None
    ) -> HistoryBuilder:
        for i, (node, accepts) in enumerate(accepting.items()):
            self.add(
                PROBE,
                "ok",
                PROBE_NODE,
                {"round": round, "accepting": accepts, "group": group},
                node,
                at if i == 0 else None,
            )
        return self

    def history(self) -> History:
        return History(self.ops)


def healthy(n: int = 5, producer: str = "p1") -> HistoryBuilder:
    """n receipted sends, each delivered once and acked, by node1."""
    b = HistoryBuilder()
    b.sends(producer, range(n))
    for seq in range(n):
        b.receive(f"{producer}#{seq}")
        b.ack(f"{producer}#{seq}")
    return b
