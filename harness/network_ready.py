"""A network of brokers is ready once every configured bridge carries a message.

Bridges come up late at start on both vendors: a connector whose target is not up yet backs off 1, 2,
4, 8 s. A scenario that faulted such a network would measure its start-up, not the fault, so a
cluster of a network topology sends one probe message through each bridge before it is handed out.

Why a probe and not each vendor's "has been established" log line: the line says a connection was
made, not that demand has crossed it and messages flow (ActiveMQ logs it before the bridge has
subscribed to the remote consumer advisories). A probe is the same check on both vendors and proves
exactly what a scenario relies on. Each probe runs on a queue of its own (``amqh.bridge-probe.*``,
never the workload's) with its own connections, so nothing of it enters a history; its one message is
consumed, so nothing is left behind.

A probe from A to B proves that a message sent on A reaches a consumer on B. With networkTTL 1 (the
default, and every preset's unless a scenario sets ``ttl``) that path is the direct bridge; in a mesh
with a larger TTL it could also be a detour over a third broker.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.client.errors import ClientError
from harness.client.plain import FrameTimeout, PlainStompConnection
from harness.topology.model import Topology

log = logging.getLogger("harness.network_ready")

# Long enough for a connector at ActiveMQ's default back-off (attempts 1, 3, 7, 15, 31 s after the first
# failure) whose target came up a little after one attempt: a bridge not up by then is not coming.
BRIDGES_TIMEOUT_S = 45.0
# How often a probe that could not reach a broker at all tries again.
RETRY_S = 0.2


@dataclass(frozen=True)
class Bridge:
    """Messages sent on group ``source``'s master reach consumers on group ``target``'s master, over
    the connector of node ``connector`` (a duplex connector is two bridges, one each way)."""

    source: str
    target: str
    connector: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (connector on {self.connector})"


class BridgesNotReady(RuntimeError):
    """A bridge carried no probe message within the bound: the cluster never became the network the
    scenario asked for, so nothing the scenario does next says anything about a fault (verdict error)."""

    def __init__(self, missing: list[Bridge], timeout: float, details: str = "") -> None:
        self.missing = missing
        names = "; ".join(str(b) for b in missing)
        super().__init__(
            f"network not ready: bridge {names} carried no probe message within {timeout:g} s of the "
            f"cluster's start" + (f"\n{details}" if details else "")
        )


def configured_bridges(topology: Topology) -> list[Bridge]:
    """Every directed bridge the topology's connectors make between groups, each once.

    A non-duplex connector carries its own broker's messages to the targets' (ActiveMQ's
    DemandForwardingBridge forwards local messages to remote demand); a duplex one both ways. A
    connector to its own group (combined's masterslave:(own pair)) is a loop-back both vendors drop.
    A multicast connector bridges to every other broker that advertises (every node with a multicast
    connector). Bridges are between groups: whichever node of a pair is master serves them.
    """
    advertising = [c.node for c in topology.connectors if c.discovery == "multicast"]
    found: dict[tuple[str, str], Bridge] = {}
    for connector in topology.connectors:
        own = topology.group_of(connector.node).name
        targets = advertising if connector.discovery == "multicast" else list(connector.targets)
        for target in dict.fromkeys(topology.group_of(t).name for t in targets):
            if target == own:
                continue
            directions = [(own, target), (target, own)] if connector.duplex else [(own, target)]
            for source, destination in directions:
                found.setdefault((source, destination), Bridge(source, destination, connector.node))
    return list(found.values())


def probeable(topology: Topology, bridge: Bridge) -> bool:
    """Whether the probe queue may cross the bridge: a connector with destination filters may leave it
    out, and the probe does not guess a user queue to use instead (no preset sets filters)."""
    return not any(
        c.excluded or c.dynamically_included or c.statically_included for c in topology.connectors_of(bridge.connector)
    )


@dataclass(frozen=True)
class Side:
    """Where a probe's client connects to one end of a bridge, with the login that broker wants."""

    host: str
    port: int
    login: str | None = None
    passcode: str | None = None

    def connect(self, name: str) -> PlainStompConnection:
        conn = PlainStompConnection(self.host, self.port, timeout=5.0, name=name)
        try:
            conn.connect("1.2", login=self.login, passcode=self.passcode)
        except BaseException:
            conn.close()
            raise
        return conn


# Where one end of a bridge is now (its group's current master), or None while it has no single master.
SideLookup = Callable[[], Side | None]


def probe_bridge(source: SideLookup, target: SideLookup, queue: str, deadline: float, stop: threading.Event) -> bool:
    """Subscribe on ``target``, send one persistent message on ``source`` and wait for it; True once it
    arrived, False at ``deadline`` (or once ``stop`` is set). A message sent before the consumer's
    demand crossed the bridge waits on ``source`` and is forwarded once it does, on both vendors, so
    one message is enough. A broker that cannot be reached or drops the probe's connection is tried
    again on the same queue, where a message of the earlier try counts as well. Each try looks both
    ends up afresh: a group whose master changed during the wait is probed at its new master, not
    dialled at the old one until the bound runs out."""
    while not stop.is_set() and time.monotonic() < deadline:
        sides = source(), target()
        if sides[0] is None or sides[1] is None:
            log.debug("bridge probe on %s: a group has no single master now; trying again", queue)
            stop.wait(RETRY_S)
            continue
        try:
            return _probe_once(sides[0], sides[1], queue, deadline, stop)
        except (OSError, ClientError) as exc:
            log.debug("bridge probe on %s: %s; trying again", queue, exc)
            stop.wait(RETRY_S)
    return False


def _probe_once(source: Side, target: Side, queue: str, deadline: float, stop: threading.Event) -> bool:
    opened: list[PlainStompConnection] = []
    try:
        consumer = target.connect("bridge-probe-consumer")
        opened.append(consumer)
        consumer.subscribe(queue, ack="auto")  # receipted: the subscription exists before the send
        producer = source.connect("bridge-probe-producer")
        opened.append(producer)
        producer.send(queue, b"bridge probe", headers={"persistent": "true"})
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                consumer.receive(timeout=min(left, 0.5))
                return True
            except FrameTimeout:
                continue
        return False
    finally:
        for conn in opened:
            # DISCONNECT first: a bare close is a failed transport in ActiveMQ's log.
            with contextlib.suppress(OSError, ClientError):
                conn.disconnect(receipt=False)


Probe = Callable[[Bridge, str, float, threading.Event], bool]


def wait_for_bridges(bridges: list[Bridge], probe: Probe, timeout: float = BRIDGES_TIMEOUT_S) -> float:
    """Probe every bridge at once (``probe(bridge, queue, deadline, stop)``); return the seconds it took,
    or raise BridgesNotReady naming each bridge that carried nothing within ``timeout``."""
    if not bridges:
        return 0.0
    started = time.monotonic()
    deadline = started + timeout
    stop = threading.Event()
    run = uuid.uuid4().hex[:8]

    def one(bridge: Bridge) -> bool:
        queue = f"/queue/amqh.bridge-probe.{run}.{bridge.source}.{bridge.target}"
        return probe(bridge, queue, deadline, stop)

    with ThreadPoolExecutor(max_workers=len(bridges), thread_name_prefix="bridge-probe") as pool:
        try:
            carried = list(pool.map(one, bridges))
        finally:
            stop.set()
    missing = [b for b, ok in zip(bridges, carried, strict=True) if not ok]
    if missing:
        raise BridgesNotReady(missing, timeout)
    took = time.monotonic() - started
    log.info("every bridge carried a probe message within %.2f s: %s", took, ", ".join(str(b) for b in bridges))
    return took
