"""Multicast discovery's packets and its clean-stop notice: a broker that stops cleanly says ``dead``,
and its peers forget it at once (as ActiveMQ 5.17.2's MulticastDiscoveryAgent does), so back and
advertising it is dialled at its first advertisement, not 5 s after its bridge fell."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid

from harness.broker.config.network import Endpoint, MulticastGroup, NetworkConfig, NetworkConnectorConfig, Redial
from harness.broker.network.discovery import MulticastAgent, announcement, parse_announcement
from harness.broker.network.service import NetworkService, _MulticastConnector

from .fake_clock import Clock

LOG = logging.getLogger("test.discovery")
AMQ2 = Endpoint("127.0.0.1", 61700)


def test_alive_and_dead_packets_read_back_and_others_are_ignored() -> None:
    for state in ("alive", "dead"):
        packet = announcement("g1", "amq2", AMQ2, state)  # type: ignore[arg-type]
        assert packet == f"g1.pybroker.{state}.%amq2%tcp://127.0.0.1:61700".encode()
        assert parse_announcement(packet, "g1") == (state, "amq2", AMQ2)
    assert parse_announcement(announcement("g2", "amq2", AMQ2, "dead"), "g1") is None, "another group's"
    assert parse_announcement(b"g1.pybroker.asleep.%amq2%tcp://127.0.0.1:61700", "g1") is None
    assert parse_announcement(b"g1.pybroker.dead.%amq2%udp://127.0.0.1:61700", "g1") is None
    assert parse_announcement(b"g1.pybroker.dead.%amq2", "g1") is None
    assert parse_announcement(b"\xff\xfe", "g1") is None


def test_a_peer_that_says_it_stopped_is_dropped_at_once() -> None:
    agent = MulticastAgent(MulticastGroup(group="g1"), "amq1", Endpoint("127.0.0.1", 61600), LOG)
    heard: list[str] = []
    lost: list[Endpoint] = []
    on_packet = agent._heard(lambda name, endpoint: heard.append(name), lost.append)
    on_packet(announcement("g1", "amq2", AMQ2))
    on_packet(announcement("g1", "amq1", Endpoint("127.0.0.1", 61600), "dead"))  # its own: ignored
    on_packet(announcement("g1", "amq3", Endpoint("127.0.0.1", 61800), "dead"))  # never heard: nothing to drop
    assert (heard, lost) == (["amq2"], [])
    on_packet(announcement("g1", "amq2", AMQ2, "dead"))
    assert lost == [AMQ2], f"a dead packet should drop amq2 at once; lost {lost}"
    assert AMQ2 not in agent.peers
    on_packet(announcement("g1", "amq2", AMQ2, "dead"))  # repeated: dropped once
    assert lost == [AMQ2]


def test_a_broker_back_after_a_clean_stop_is_dialled_at_its_first_advertisement() -> None:
    """amq2 stops cleanly: its bridge falls (a failure: advertisements ignored for 5 s), then its dead
    packet arrives; restarted 1 s later, it is dialled at its first advertisement. Without the dead
    packet (a kill) the re-dial waits the 5 s."""
    for says_dead, expected in ((True, [0.0, 1.0]), (False, [0.0, 5.0])):
        assert dial_times_after_a_stop(says_dead) == expected, f"dead packet sent: {says_dead}"


def dial_times_after_a_stop(says_dead: bool) -> list[float]:
    clock = Clock()
    start = clock.now
    service = NetworkService(NetworkConfig(), LOG)
    service.clock = clock
    dialled: list[float] = []

    async def run() -> None:
        stopped = asyncio.Event()

        async def connect(_: NetworkConnectorConfig, endpoint: Endpoint) -> None:
            dialled.append(round(clock.now - start, 3))
            if len(dialled) == 1:  # the first bridge holds until amq2 stops
                await stopped.wait()
                raise ConnectionResetError("amq2 stopped")
            await asyncio.sleep(3600)  # later ones hold until the test ends

        service._connect = connect  # type: ignore[method-assign,assignment]
        connector = _MulticastConnector(
            NetworkConnectorConfig(discovery="multicast", multicast=MulticastGroup(redial=Redial())), service
        )
        on_packet = MulticastAgent(MulticastGroup(), "amq1", None, LOG)._heard(connector.heard, connector.lost)
        on_packet(announcement("default", "amq2", AMQ2))
        for _ in range(3):
            await asyncio.sleep(0)
        stopped.set()  # its bridge falls: a failure, its advertisements ignored for 5 s
        for _ in range(3):
            await asyncio.sleep(0)
        if says_dead:
            on_packet(announcement("default", "amq2", AMQ2, "dead"))
        while clock.now - start < 6.0:
            clock.advance(0.5)
            if clock.now - start >= 1.0:  # back and advertising from 1 s
                on_packet(announcement("default", "amq2", AMQ2))
            for _ in range(3):
                await asyncio.sleep(0)
        connector.close()

    asyncio.run(run())
    return dialled


def test_an_agent_stopped_cleanly_tells_its_peers_over_the_group() -> None:
    """Two agents on a real multicast group: cancelling amq2's makes amq1 drop it within moments, far
    sooner than its missed heartbeats would."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    group = MulticastGroup(port=port, group=f"t{uuid.uuid4().hex[:8]}", heartbeat_ms=100, missed_heartbeats=1000)

    async def run() -> None:
        found, gone = asyncio.Event(), asyncio.Event()
        listener = MulticastAgent(group, "amq1", None, LOG)
        speaker = MulticastAgent(group, "amq2", AMQ2, LOG)
        hearing = asyncio.ensure_future(listener.run(lambda name, endpoint: found.set(), lambda endpoint: gone.set()))
        speaking = asyncio.ensure_future(speaker.run(lambda name, endpoint: None, lambda endpoint: None))
        try:
            await asyncio.wait_for(found.wait(), 10)  # the bounds only guard against a hang
            speaking.cancel()
            await asyncio.wait([speaking], timeout=10)
            await asyncio.wait_for(gone.wait(), 10)
            assert AMQ2 not in listener.peers
        finally:
            hearing.cancel()
            speaking.cancel()
            await asyncio.wait([hearing, speaking], timeout=10)

    asyncio.run(run())
