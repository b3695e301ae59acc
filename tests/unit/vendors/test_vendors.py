from pathlib import Path

import pytest

from harness.topology import shared_file
from harness.vendors import VendorUnavailable, get_vendor, vendor_names
from harness.vendors.activemq import ActiveMQ


def test_known_vendors():
    assert vendor_names() == ["activemq", "pybroker"]
    with pytest.raises(ValueError, match="unknown vendor 'rabbit'"):
        get_vendor("rabbit")


def test_activemq_runs_the_jvm_directly_with_its_own_base(tmp_path: Path):
    launch = ActiveMQ(home=tmp_path / "amq").prepare(tmp_path / "amq1", "<beans/>")
    assert launch.argv[0] == "java"
    assert "-jar" in launch.argv and launch.argv[-2:] == [
        "start",
        f"xbean:file:{tmp_path}/amq1/conf/activemq.xml",
    ]
    assert (tmp_path / "amq1" / "conf" / "log4j.properties").is_file()
    assert (tmp_path / "amq1" / "conf" / "activemq.xml").read_text() == "<beans/>"


def test_missing_activemq_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("harness.vendors.activemq.ACTIVEMQ_HOME", tmp_path / "nowhere")
    with pytest.raises(VendorUnavailable, match="apt-get install -y activemq"):
        ActiveMQ(home=tmp_path / "nowhere").check_installed()


def test_a_home_of_ones_own_that_is_missing_is_named(tmp_path: Path):
    with pytest.raises(VendorUnavailable, match=r"ActiveMQ home .*/mine: no such directory$"):
        ActiveMQ(home=tmp_path / "mine").check_installed()


def test_missing_java_is_named(tmp_path: Path):
    with pytest.raises(VendorUnavailable, match="needs Java"):
        ActiveMQ(java="no-such-java-binary").check_installed()


def test_pybroker_launches_the_harness_broker_module(tmp_path: Path):
    launch = get_vendor("pybroker").prepare(tmp_path / "amq1", "<beans/>")
    assert launch.argv[-4:] == ["-m", "harness.broker", "--config", f"{tmp_path}/amq1/conf/activemq.xml"]
    assert get_vendor("pybroker").unsupported_reason(shared_file(2)) is None


def test_pybroker_runs_the_harness_code_this_process_imported(tmp_path: Path):
    import harness

    launch = get_vendor("pybroker").prepare(tmp_path / "amq1", "<beans/>")
    source_root = str(Path(harness.__file__).resolve().parent.parent)
    assert launch.env["PYTHONPATH"].split(":")[0] == source_root


def test_the_local_runtime_refuses_a_launch_meant_for_a_container(tmp_path: Path):
    from harness.runtime import LocalRuntime, NodeError
    from harness.vendors import LaunchSpec

    with LocalRuntime(tmp_path) as runtime:
        launch = LaunchSpec(argv=["python3"], cwd=tmp_path, image="amq-harness/pybroker:x")
        with pytest.raises(NodeError, match="meant to run in image amq-harness/pybroker:x: use --runtime docker"):
            runtime.add_node("amq1", launch, runtime.allocate_port())
        assert runtime.listen_address(1234) == ("127.0.0.1", 1234)
