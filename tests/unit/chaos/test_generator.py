"""Drawing schedules: the same seed gives the same schedule; only faults the topology and runtime
support are drawn; exclusions hold; faults fit in the duration."""

from __future__ import annotations

import itertools

import pytest

from harness.chaos import ScheduleError, fault_menu, generate
from harness.chaos.generator import SETTLE_S, WARM_UP_S
from harness.errors import UnknownName
from harness.topology import combined, jdbc, replicated, shared_file
from harness.topology.model import Topology

SHARED_FILE_KINDS = {"kill", "pause", "restart", "steal_lock"}
JDBC_KINDS = {
    "kill",
    "pause",
    "restart",
    "database_outage",
    "kill_db_sessions",
    "cut_link",
    "blackhole",
    "slow_link",
    "reset_peer",
}
REPLICATED_KINDS = {"kill", "pause", "restart", "kill_zookeeper", "pause_zookeeper", "cut_zookeeper"}


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    topology = jdbc(nodes=2)
    first = generate(7, topology, 120)
    assert generate(7, topology, 120) == first
    assert generate(8, topology, 120) != first
    assert len(first) > 1


@pytest.mark.parametrize(
    ("topology", "kinds"),
    [
        (shared_file(nodes=2), SHARED_FILE_KINDS),
        (jdbc(nodes=2), JDBC_KINDS),
        (replicated(nodes=3, zookeepers=3), REPLICATED_KINDS),
        (shared_file(nodes=2, client_links=True), SHARED_FILE_KINDS | {"isolate_clients"}),
    ],
    ids=["shared-file", "jdbc", "replicated", "client-links"],
)
def test_schedules_hold_only_faults_the_topology_supports(topology: Topology, kinds: set[str]) -> None:
    assert {choice.kind for choice in fault_menu(topology)} == kinds
    drawn = {f.kind for seed in range(40) for f in generate(seed, topology, 300).faults}
    assert drawn == kinds  # every supported kind comes up over enough seeds, nothing else does


def test_partitions_only_on_a_runtime_that_can_make_them() -> None:
    topology = shared_file(nodes=2)
    assert "partition" not in {c.kind for c in fault_menu(topology)}
    assert "partition" in {c.kind for c in fault_menu(topology, runtime_faults={"partition"})}


def test_bridges_with_links_get_link_faults_by_name() -> None:
    topology = combined(pairs=2, bridge_links=True)
    links = {t.name for c in fault_menu(topology) if c.kind == "blackhole" for t in c.targets}
    assert links and all("->" in str(name) for name in links)


def test_targets_name_nodes_and_groups_of_the_topology() -> None:
    topology = shared_file(nodes=3)
    for seed in range(20):
        for fault in generate(seed, topology, 120).faults:
            assert fault.group == "ms-broker-a"
            if fault.target == "node":
                assert fault.name in topology.nodes


def test_left_out_kinds_are_never_drawn_and_are_recorded() -> None:
    left_out = {"steal_lock": "known loss", "pause": "known reordering"}
    for seed in range(30):
        schedule = generate(seed, shared_file(nodes=2), 120, left_out=left_out)
        assert not {f.kind for f in schedule.faults} & set(left_out)
        assert schedule.left_out == left_out


def test_an_unknown_kind_to_leave_out_is_a_mistake() -> None:
    with pytest.raises(UnknownName, match="steal_lok"):
        generate(1, shared_file(nodes=2), 60, left_out={"steal_lok": "typo"})


def test_faults_fit_between_warm_up_and_settle_and_one_concrete_target_at_a_time() -> None:
    for seed in range(50):
        schedule = generate(seed, jdbc(nodes=2), 90)
        for fault in schedule.faults:
            assert fault.start_s >= WARM_UP_S and fault.end_s <= 90 - SETTLE_S + 1e-6
        outages = sorted((f.start_s, f.end_s) for f in schedule.faults if f.kind == "database_outage")
        assert all(end <= later for (_, end), (later, _) in itertools.pairwise(outages))


def test_overlapping_faults_happen_for_some_seeds() -> None:
    def overlaps(seed: int) -> bool:
        faults = generate(seed, shared_file(nodes=2), 60).faults
        return any(b.start_s < a.end_s for a, b in itertools.pairwise(faults))

    assert any(overlaps(seed) for seed in range(30))
    assert not all(overlaps(seed) for seed in range(30))


def test_a_longer_duration_draws_more_faults() -> None:
    short = sum(len(generate(s, shared_file(nodes=2), 60)) for s in range(10))
    long = sum(len(generate(s, shared_file(nodes=2), 1800)) for s in range(10))
    assert long > 10 * short


def test_a_duration_too_short_for_any_fault_is_an_error() -> None:
    with pytest.raises(ScheduleError, match="leaves no time for faults"):
        generate(1, shared_file(nodes=2), 5)


def test_leaving_out_every_kind_is_an_error() -> None:
    everything = {kind: "no" for kind in SHARED_FILE_KINDS}
    with pytest.raises(ScheduleError, match="no fault left to draw"):
        generate(1, shared_file(nodes=2), 60, left_out=everything)
