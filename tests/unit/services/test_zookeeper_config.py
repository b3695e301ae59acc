"""The ZooKeeper ensemble's configuration and its reading of four-letter replies (no processes)."""

from __future__ import annotations

from pathlib import Path

from harness.services.zookeeper import ZooKeeperAddress, mode_from_srvr, zoo_cfg

PEERS = [ZooKeeperAddress(i, "127.0.0.1", 2180 + i, 2880 + i, 3880 + i) for i in (1, 2, 3)]


def _settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_three_node_config_names_every_peer_and_its_own_client_port() -> None:
    cfg = _settings(zoo_cfg(PEERS[1], PEERS, Path("/d/zk2"), tick_ms=500))
    assert cfg["clientPort"] == "2182"
    assert cfg["dataDir"] == "/d/zk2"
    assert [cfg[f"server.{i}"] for i in (1, 2, 3)] == [
        "127.0.0.1:2881:3881",
        "127.0.0.1:2882:3882",
        "127.0.0.1:2883:3883",
    ]


def test_config_turns_the_admin_server_off_and_allows_the_four_letter_words() -> None:
    cfg = _settings(zoo_cfg(PEERS[0], PEERS, Path("/d"), tick_ms=500))
    assert cfg["admin.enableServer"] == "false", "the admin server would take port 8080 on every node"
    assert cfg["4lw.commands.whitelist"] == "*", "readiness and roles are read with ruok/srvr"


def test_tick_allows_a_two_second_session() -> None:
    # ZooKeeper grants sessions between 2 and 20 ticks: ActiveMQ's zkSessionTimeout of 2 s must fit.
    tick = int(_settings(zoo_cfg(PEERS[0], PEERS, Path("/d"), tick_ms=500))["tickTime"])
    assert 2 * tick <= 2000 <= 20 * tick


def test_a_single_node_is_standalone() -> None:
    cfg = _settings(zoo_cfg(PEERS[0], PEERS[:1], Path("/d"), tick_ms=500))
    assert not any(key.startswith("server.") for key in cfg), cfg


def test_srvr_reply_modes() -> None:
    assert mode_from_srvr("Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: leader\nNode count: 5\n") == (
        "leader"
    )
    assert mode_from_srvr("Mode: follower\n") == "follower"
    assert mode_from_srvr("Mode: standalone\n") == "standalone"
    # A node that lost its quorum still answers, but with this line instead of a mode.
    assert mode_from_srvr("This ZooKeeper instance is not currently serving requests\n") == "no quorum"
    assert mode_from_srvr("") == "down"
