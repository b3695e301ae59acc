"""Declared faults give a topology the link proxies they act on; a missing proxy is a scenario mistake."""

from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.errors import ScenarioError, UnknownName
from harness.faults.needs import check_fault_names, topology_for_faults
from harness.runtime.choice import runtime_faults
from harness.runtime.local import LocalRuntime
from harness.topology import fan_out, jdbc, network, shared_file
from harness.vendors import get_vendor


def test_isolate_clients_gives_every_node_a_client_link():
    plain = shared_file(nodes=2)
    made = topology_for_faults(plain, ["isolate_clients"])
    assert made.client_links and not plain.client_links
    assert made.groups == plain.groups and made.name == plain.name
    assert topology_for_faults(jdbc(2), ["client_link"]).client_links


def test_bridge_link_gives_a_network_its_bridge_proxies():
    made = topology_for_faults(fan_out(consumer_brokers=2), ["bridge_link"])
    assert made.bridge_links and not made.client_links
    assert made.describe()["bridge_links"] is True


def test_a_topology_that_has_its_links_and_faults_needing_none_are_left_alone():
    has = shared_file(nodes=2, client_links=True)
    assert topology_for_faults(has, ["isolate_clients"]) is has
    plain = shared_file(nodes=2)
    assert topology_for_faults(plain, ["partition"]) is plain


def test_a_bridge_fault_without_bridges_is_a_scenario_mistake():
    with pytest.raises(ScenarioError, match=r"needs_fault\('bridge_link'\): topology shared_file\(2\) has no bridges"):
        topology_for_faults(shared_file(nodes=2), ["bridge_link"])
    with pytest.raises(ScenarioError, match="multicast discovery finds brokers by itself"):
        topology_for_faults(network(2, "multicast"), ["bridge_link"])


def test_an_unknown_fault_name_is_a_mistake_naming_the_known_ones():
    check_fault_names(["partition", "isolate_clients", "bridge_link"], runtime_faults())
    with pytest.raises(UnknownName, match="did you mean `isolate_clients`"):
        check_fault_names(["isolate_client"], runtime_faults())


def _cluster(topology, tmp_path: Path) -> Cluster:
    return Cluster(topology, get_vendor("pybroker"), LocalRuntime(tmp_path))


def test_a_client_link_the_topology_lacks_names_the_marker(tmp_path: Path):
    cluster = _cluster(shared_file(nodes=2), tmp_path)
    with pytest.raises(ScenarioError, match=r"mark the scenario @pytest.mark.needs_fault\('isolate_clients'\)"):
        cluster.client_link("amq1")
    with pytest.raises(UnknownName, match="unknown node `amq9`"):
        cluster.client_link("amq9")


def test_a_bridge_link_the_topology_lacks_names_the_marker(tmp_path: Path):
    cluster = _cluster(fan_out(consumer_brokers=2), tmp_path)
    with pytest.raises(ScenarioError, match=r"needs_fault\('bridge_link'\)"):
        cluster.named_link("amq3->amq1")
    with pytest.raises(UnknownName, match="unknown link `nowhere`"):
        cluster.named_link("nowhere")
