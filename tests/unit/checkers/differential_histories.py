"""Seeded histories with planted anomalies, for the differential test of the checkers.

Each history is what a run of a few hundred messages records on a three-node group: producers send
with receipts (some fail or stay uncertain), consumers subscribe, take deliveries and ack them, leave
and come back (their unacked messages go back to the queue), the nemesis kills and pauses the master,
the probe polls every node, and a final drain takes what is left. On top of that, ``plant`` names the
broken promises to plant, each at a few random places: receipted messages lost or stranded, deliveries
after a receipted ACK, reorderings, returned messages put at the tail of the queue, two masters,
group and exclusive-queue moves, confirmations while a quorum is down. Everything is drawn from
``random.Random(seed)``, so a (seed, plant) pair is always the same history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
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
    MessageKey,
    Op,
    OpType,
)

NODES = ("node1", "node2", "node3")
DESTINATION = "/queue/diff"
GROUPS = ("A", "B", "C", None)
PLANTS = frozenset(
    {
        "loss",
        "stranded",
        "failed-delivered",
        "ack-redelivery",
        "reorder",
        "tail-return",
        "split-brain",
        "group-move",
        "exclusive",
        "quorum",
    }
)


@dataclass
class _Message:
    key: MessageKey
    group: str | None
    message_id: str
    delivered: bool = False


@dataclass
class _Consumer:
    process: int
    exclusive: bool
    live: bool = False
    unacked: list[_Message] = field(default_factory=list)


class _Recorder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ops: list[Op] = []
        self.now = 1_000_000_000

    def add(self, process: int | str, type_: OpType, f: str, value: Any, node: str | None = None, **meta: Any) -> Op:
        self.now += self.rng.randrange(200_000, 3_000_000)  # 0.2 to 3 ms between records
        op = Op(len(self.ops), process, type_, f, value, self.now, node, meta)
        self.ops.append(op)
        return op


def generate(seed: int, plant: frozenset[str] = frozenset(), messages: int = 300) -> list[Op]:
    """A history of about ``messages`` messages with the anomalies named in ``plant`` (see module doc)."""
    unknown = set(plant) - PLANTS
    if unknown:
        raise ValueError(f"unknown plants {sorted(unknown)}; known: {sorted(PLANTS)}")
    rng = random.Random(seed)
    rec = _Recorder(rng)
    master = 0
    fault_id = 0
    open_fault: tuple[int, str, str] | None = None  # (fault id, fault, target)
    probe_round = 0
    queue: list[_Message] = []
    acked: list[_Message] = []
    seqs = {"p1": 0, "p2": 0, "p3": 0}
    consumers = [_Consumer(10 + i, exclusive=(i == 2)) for i in range(3)]
    exclusive = consumers[2]
    owners: dict[str | None, _Consumer] = {}  # a message group's consumer
    message_no = 0

    def chance(name: str, p: float) -> bool:
        return name in plant and rng.random() < p

    def node() -> str:
        return NODES[master]

    def subscribe(c: _Consumer, cause: str) -> None:
        c.live = True
        rec.add(c.process, "ok", SUBSCRIBED, {"destination": DESTINATION, "exclusive": c.exclusive, "cause": cause})

    def leave(c: _Consumer, cause: str) -> None:
        c.live = False
        rec.add(c.process, "ok", UNSUBSCRIBED, {"destination": DESTINATION, "cause": cause})
        returned, c.unacked = c.unacked, []
        if chance("tail-return", 0.7):
            queue.extend(returned)  # the broker puts them at the tail: delivered after newer ones
        else:
            queue[:0] = returned

    def deliver(c: _Consumer, m: _Message, confirming: str, **extra: Any) -> None:
        meta: dict[str, Any] = {
            "destination": DESTINATION,
            "group": m.group,
            "message_id": m.message_id,
            "redelivered": m.delivered,
        }
        if rng.random() < 0.05 and m.group is not None:
            meta["group_seq"] = rng.choice((1, 2, -1))
        meta.update(extra)
        m.delivered = True
        rec.add(c.process, "ok", RECEIVE, m.key, confirming, **meta)

    def ack(c: _Consumer, m: _Message) -> None:
        rec.add(c.process, "invoke", ACK, m.key)
        roll = rng.random()
        if roll < 0.05:
            rec.add(c.process, "info", ACK, m.key, error="TimeoutError: no receipt")
            c.unacked.append(m)
        else:
            rec.add(c.process, "ok", ACK, m.key, node())
            acked.append(m)

    subscribe(consumers[0], "subscribe")
    subscribe(consumers[1], "subscribe")
    while message_no < messages:
        roll = rng.random()
        if roll < 0.45:  # a send
            producer = rng.choice(("p1", "p2", "p3"))
            seqs[producer] += 1
            key = MessageKey(producer, seqs[producer])
            group = rng.choice(GROUPS)
            meta: dict[str, Any] = {"destination": DESTINATION}
            if group is not None:
                meta["group"] = group
            rec.add(100 + int(producer[1]), "invoke", SEND, key, **meta)
            message_no += 1
            outcome = rng.random()
            message = _Message(key, group, f"ID:{node()}-{message_no}")
            if outcome < 0.03:
                rec.add(100 + int(producer[1]), "fail", SEND, key, error="ConnectionError: refused")
                if chance("failed-delivered", 0.5):
                    queue.append(message)  # stored all the same: a failed send delivered
            elif outcome < 0.07:
                rec.add(100 + int(producer[1]), "info", SEND, key, error="TimeoutError: no receipt")
                if rng.random() < 0.5:
                    queue.append(message)
            elif outcome < 0.08:
                pass  # never completed
            else:
                rec.add(100 + int(producer[1]), "ok", SEND, key, node())
                if chance("loss", 0.03):
                    continue
                queue.append(message)
        elif roll < 0.85 and queue:  # a delivery, then mostly an ack
            live = [c for c in consumers if c.live]
            if not live:
                continue
            at = 0
            if chance("reorder", 0.1) and len(queue) > 2:
                at = rng.randrange(1, len(queue))
            m = queue.pop(at)
            # An exclusive consumer takes everything; a group goes to its owner while the owner is live.
            if exclusive.live:
                c = exclusive
            elif m.group is not None and owners.get(m.group) in live:
                c = owners[m.group]
            else:
                c = rng.choice(live)
            if m.group is not None:
                owners[m.group] = c
            confirming = node()
            if chance("split-brain", 0.05):
                confirming = NODES[(master + 1) % len(NODES)]
            others = [x for x in live if x is not c]
            if others and ((chance("group-move", 0.3) and m.group is not None) or chance("exclusive", 0.1)):
                deliver(rng.choice(others), m, confirming)
            deliver(c, m, confirming)
            if rng.random() < 0.9:
                ack(c, m)
            else:
                c.unacked.append(m)
        elif roll < 0.88:  # a consumer leaves or comes back; the exclusive one comes alone
            c = rng.choice(consumers)
            if c.live:
                leave(c, rng.choice(("close", "interrupted")))
            elif c is exclusive:
                for other in consumers:
                    if other.live and not chance("exclusive", 0.5):
                        leave(other, "close")
                subscribe(c, rng.choice(("subscribe", "resumed")))
            elif not exclusive.live or chance("exclusive", 0.5):
                subscribe(c, rng.choice(("subscribe", "resumed")))
        elif roll < 0.90 and acked and chance("ack-redelivery", 1.0):
            m = rng.choice(acked)
            live = [c for c in consumers if c.live]
            if live:
                deliver(rng.choice(live), m, node())
        elif roll < 0.93:  # the probe polls every node
            probe_round += 1
            split = chance("split-brain", 0.3)
            for i, name in enumerate(NODES):
                accepting = i == master or (split and i == (master + 1) % len(NODES))
                rec.add(PROBE, "ok", PROBE_NODE, {"round": probe_round, "accepting": accepting, "group": "g"}, name)
        elif roll < 0.96:  # a fault starts or heals
            if open_fault is None:
                fault_id += 1
                kind = rng.choice(("kill", "pause", "restart", "zookeeper-kill"))
                target = node() if kind != "zookeeper-kill" else "zk1"
                value: dict[str, Any] = {"fault": kind, "target": target, "fault_id": fault_id}
                if kind == "zookeeper-kill":
                    value["nodes"] = ["zk1", "zk2"]
                rec.add(NEMESIS, "info", FAULT_START, value, target if kind != "zookeeper-kill" else None)
                open_fault = (fault_id, kind, target)
                if kind != "zookeeper-kill":
                    master = (master + 1) % len(NODES)
                    for c in consumers:
                        if c.live and rng.random() < 0.5:
                            leave(c, "interrupted")
                if chance("quorum", 1.0):
                    for _ in range(3):
                        k = MessageKey("p1", seqs["p1"] + 1)
                        seqs["p1"] += 1
                        rec.add(101, "invoke", SEND, k, destination=DESTINATION)
                        rec.now += 4_000_000_000  # past the grace: the master kept confirming
                        rec.add(101, "ok", SEND, k, node())
                        queue.append(_Message(k, None, f"ID:q-{k.seq}"))
            else:
                ident, kind, target = open_fault
                value = {"fault": kind, "target": target, "fault_id": ident}
                rec.add(NEMESIS, "info", FAULT_END, value, target if kind != "zookeeper-kill" else None)
                open_fault = None
        elif roll < 0.97:
            rec.now += rng.randrange(100_000_000, 2_000_000_000)  # a quiet spell
    if open_fault is not None:
        ident, kind, target = open_fault
        rec.add(NEMESIS, "info", FAULT_END, {"fault": kind, "target": target, "fault_id": ident}, None)
    for c in consumers:
        if c.live:
            leave(c, "close")
    # The final drain takes what is left (and what consumers held unacked).
    drain = 99
    rec.add(drain, "ok", SUBSCRIBED, {"destination": DESTINATION, "exclusive": False, "cause": "subscribe"}, drain=True)
    for c in consumers:
        queue.extend(c.unacked)
        c.unacked = []
    restarted = [m for m in queue if chance("stranded", 0.3)]
    for m in queue:
        if m not in restarted:
            rec.add(drain, "ok", RECEIVE, m.key, node(), destination=DESTINATION, drain=True, message_id=m.message_id)
    for m in restarted:
        rec.add(
            drain,
            "ok",
            RECEIVE,
            m.key,
            node(),
            destination=DESTINATION,
            drain=True,
            after_restart=True,
            message_id=m.message_id,
        )
    return rec.ops
