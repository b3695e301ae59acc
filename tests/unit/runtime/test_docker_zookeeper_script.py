"""The command a ZooKeeper container runs: its configuration, written once, then the server (no Docker)."""

from __future__ import annotations

from harness.runtime.docker_zookeeper import CLIENT_PORT, container_script
from harness.services.zookeeper import MAIN_CLASS


def _zoo_cfg(script: str) -> dict[str, str]:
    body = script.split("zoo.cfg <<'EOF'\n", 1)[1].split("EOF\n", 1)[0]
    return dict(line.split("=", 1) for line in body.splitlines() if line)


def test_peers_are_found_by_name_and_the_node_listens_on_every_interface() -> None:
    cfg = _zoo_cfg(container_script(2, 3, tick_ms=500))
    assert [cfg[f"server.{i}"] for i in (1, 2, 3)] == ["zk1:2888:3888", "zk2:2888:3888", "zk3:2888:3888"]
    assert cfg["clientPort"] == str(CLIENT_PORT) and cfg["clientPortAddress"] == "0.0.0.0"
    assert cfg["quorumListenOnAllIPs"] == "true", "an address that changes on restart must not matter"
    assert cfg["tickTime"] == "500"


def test_the_node_keeps_its_id_and_data_across_starts_and_runs_the_quorum_peer() -> None:
    script = container_script(3, 3, tick_ms=500)
    assert "[ -s /var/lib/amq-harness-zk/data/myid ] || echo 3 > /var/lib/amq-harness-zk/data/myid" in script
    assert script.rstrip().endswith(f"{MAIN_CLASS} /var/lib/amq-harness-zk/zoo.cfg")
    assert "exec java" in script, "the server replaces the shell, so docker kill reaches it"


def test_a_single_node_is_standalone() -> None:
    cfg = _zoo_cfg(container_script(1, 1, tick_ms=500))
    assert not any(key.startswith("server.") for key in cfg)
