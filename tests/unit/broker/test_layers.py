"""pybroker's layers, read from its imports: each package imports only the layers below it, and no module
imports itself back through others.

    stomp -> core -> store.contract <- the stores (store.*)
    config -> the setting types of core, store and stomp
    server -> stomp, core, store.contract, config
    ha (one lifecycle per master/slave mode) -> server, the stores, config
    network (bridges, beside ha) -> server, core, config, stomp
    cli -> anything; message and fence are shared by every layer and import nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import harness.broker

PACKAGE = "harness.broker"
# What each layer may import besides itself (prefixes, relative to harness.broker).
SHARED = ("message", "fence")
ALLOWED: dict[str, tuple[str, ...]] = {
    "message": (),
    "fence": (),
    "logs": (),
    "stomp": ("core", *SHARED),
    "core": ("store.contract", *SHARED),
    "store": SHARED,
    "config": ("core", "store", "stomp", *SHARED),
    "server": ("stomp", "core", "store.contract", "config", *SHARED),
    "ha": ("server", "store", "config", *SHARED),
    # networks of brokers sit beside ha: a term's bridges feed and drain the core over stomp frames
    "network": ("server", "core", "config", "stomp", *SHARED),
    "cli": ("ha", "network", "server", "config", "logs", *SHARED),
    "__main__": ("cli",),
}

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def broker_imports() -> Graph:
    """Module (relative to harness.broker; "" for the package) -> the harness.broker modules it imports,
    wherever the import statement is (functions and TYPE_CHECKING blocks included)."""
    root = Path(harness.broker.__file__).parent
    graph: Graph = {}
    for path in sorted(root.rglob("*.py")):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            imported |= {name[len(PACKAGE) + 1 :] for name in names if name.startswith(PACKAGE + ".")}
        graph[module_name(path, root)] = imported
    return graph


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_violations(graph: Graph) -> list[str]:
    problems = []
    for module, imported in sorted(graph.items()):
        if not module:
            continue
        layer = module.split(".")[0]
        allowed = ALLOWED.get(layer)
        if allowed is None:
            problems.append(f"{module}: in no layer (add its package to the layer table and its docstring)")
            continue
        for target in sorted(imported):
            if _within(target, layer) or any(_within(target, prefix) for prefix in allowed):
                continue
            problems.append(f"{module} imports {target}: {layer} may import only {', '.join(allowed) or 'nothing'}")
    return problems


def import_cycles(graph: Graph) -> list[list[str]]:
    """Every cycle found by a depth-first walk, each as the path that closes it."""
    cycles: list[list[str]] = []
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_every_layer_imports_only_the_layers_below_it():
    assert layer_violations(broker_imports()) == []


def test_no_module_of_pybroker_imports_itself_back():
    assert import_cycles(broker_imports()) == []


def test_the_walk_sees_the_imports_of_functions_and_type_checking_blocks():
    graph = broker_imports()
    assert "ha.jdbc" in graph["ha"] and "ha.shared_file" in graph["ha"]  # imported inside master_slave_for
    assert "server" in graph["ha.jdbc"] and "store.contract" in graph["core.broker"]


def test_an_upward_import_is_reported_with_what_the_layer_may_import():
    graph: Graph = {"core.broker": {"stomp.protocol", "store.contract"}, "store.journal": {"core.broker"}}
    assert layer_violations(graph) == [
        "core.broker imports stomp.protocol: core may import only store.contract, message, fence",
        "store.journal imports core.broker: store may import only message, fence",
    ]


def test_a_module_outside_every_layer_is_reported():
    assert layer_violations({"bridge.network": set()}) == [
        "bridge.network: in no layer (add its package to the layer table and its docstring)"
    ]


def test_core_and_server_may_not_import_the_network():
    graph: Graph = {"core.broker": {"network.bridge"}, "server": {"network.service"}}
    assert layer_violations(graph) == [
        "core.broker imports network.bridge: core may import only store.contract, message, fence",
        "server imports network.service: server may import only stomp, core, store.contract, config, message, fence",
    ]


def test_a_cycle_is_reported_as_the_path_that_closes_it():
    graph: Graph = {"server": {"ha.jdbc"}, "ha.jdbc": {"server"}, "message": set()}
    assert import_cycles(graph) == [["ha.jdbc", "server", "ha.jdbc"]]
