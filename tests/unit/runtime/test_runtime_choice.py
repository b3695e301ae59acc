from pathlib import Path

import pytest

from harness.runtime import LocalRuntime
from harness.runtime.choice import (
    RUNTIMES,
    databases_per_run,
    fault_unsupported_reason,
    make_runtime,
    runtime_class,
    vendor_on,
)
from harness.vendors.pybroker import PyBroker


def test_local_is_chosen_by_name_and_keeps_its_files_where_asked(tmp_path: Path):
    runtime = make_runtime("local", tmp_path)
    try:
        assert isinstance(runtime, LocalRuntime)
        assert runtime.node_dir("amq1").is_relative_to(tmp_path)
    finally:
        runtime.close()


def test_an_unknown_runtime_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"no runtime 'vm' \(known: local, docker\)"):
        make_runtime("vm", Path("/nonexistent"))
    with pytest.raises(ValueError, match="no runtime 'vm'"):
        runtime_class("vm")


def test_a_fault_the_runtime_cannot_inject_names_the_runtimes_that_can():
    assert fault_unsupported_reason("docker", "partition") is None
    assert fault_unsupported_reason("local", "partition") == (
        "runtime local cannot inject 'partition' (runtimes that can: docker)"
    )
    assert fault_unsupported_reason("local", "meteor") == (
        "runtime local cannot inject 'meteor' (runtimes that can: none)"
    )


def test_local_vendors_are_the_installed_ones_and_local_databases_serve_the_whole_run():
    assert isinstance(vendor_on("local", "pybroker"), PyBroker)
    assert databases_per_run("local") and not databases_per_run("docker")
    assert RUNTIMES == ("local", "docker")
