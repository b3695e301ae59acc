"""Topology presets named after the deployments in the seed documents."""

from __future__ import annotations

from harness.topology.model import BrokerSettings, LockSettings, MasterSlaveGroup, Topology


def shared_file(
    nodes: int = 2,
    *,
    lock_acquire_sleep_ms: int | None = 1000,
    lock_keepalive_ms: int | None = 1000,
    name: str | None = None,
    broker: BrokerSettings | None = None,
) -> Topology:
    """Shared file system master/slave: ``nodes`` brokers on one kahaDB directory (seed 000).

    The defaults poll the lock every second and check it every second, the settings that make
    ActiveMQ fail over in about a second and step down when its lock is stolen. Pass None to leave
    a setting at the vendor's own default (ActiveMQ: 10000 ms poll, keep-alive off). ``broker``
    adds connector limits, plugins and destination policies (see BrokerSettings); every node of
    the group gets the same ones.
    """
    if nodes < 1:
        raise ValueError(f"shared_file: nodes must be at least 1, got {nodes}")
    lock = LockSettings(acquire_sleep_ms=lock_acquire_sleep_ms, keepalive_ms=lock_keepalive_ms)
    group = MasterSlaveGroup(
        name="ms-broker-a",
        nodes=tuple(f"amq{i}" for i in range(1, nodes + 1)),
        lock=lock,
        broker=broker or BrokerSettings(),
    )
    return Topology(name=name or f"shared_file({nodes})", groups=(group,))
