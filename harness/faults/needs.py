"""What a scenario's declared faults need: ``@pytest.mark.needs_fault(name, ...)``.

Some faults need the runtime to be able to inject them (``partition``: docker); elsewhere the scenario
is unsupported. Others need a link proxy the topology does not put in by default: the clients' link
to each node (``isolate_clients``, ``client_link``) or each bridge of a network (``bridge_link``).
Declaring those gives the scenario's topology its proxies, so that a preset needs no flag for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable

from harness.errors import ScenarioError, UnknownName
from harness.topology.model import Topology

# Link faults, by the topology flag that puts the proxy they act on in place.
LINK_FAULTS: dict[str, str] = {
    "isolate_clients": "client_links",  # faults.isolate_clients(node)
    "client_link": "client_links",  # any link fault on cluster.client_link(node)
    "bridge_link": "bridge_links",  # faults.cut_link("amq3->amq1"), blackhole ... on a bridge
}


def check_fault_names(names: Iterable[str], runtime_faults: Collection[str]) -> None:
    """An UnknownName for a declared fault that is neither a link fault nor one some runtime injects."""
    known = set(LINK_FAULTS) | set(runtime_faults)
    for name in names:
        if name not in known:
            raise UnknownName("fault in needs_fault", name, known, plural="faults")


def topology_for_faults(topology: Topology, faults: Iterable[str]) -> Topology:
    """``topology`` with the link proxies the declared faults act on (unchanged if it has them)."""
    flags = {LINK_FAULTS[name] for name in faults if name in LINK_FAULTS}
    clients = "client_links" in flags and not topology.client_links
    bridges = "bridge_links" in flags and not topology.bridge_links
    if not (clients or bridges):
        return topology
    if bridges and not topology.is_network:
        raise ScenarioError(
            f"needs_fault('bridge_link'): topology {topology.name} has no bridges (a network topology has: "
            "network(...), fan_out(...), combined(...))"
        )
    try:
        return dataclasses.replace(
            topology, client_links=topology.client_links or clients, bridge_links=topology.bridge_links or bridges
        )
    except ValueError as exc:  # e.g. multicast discovery: its bridges cannot be proxied
        raise ScenarioError(f"needs_fault: {exc}") from exc
