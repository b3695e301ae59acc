"""Reading an unpacked ActiveMQ Classic distribution: its version from itself, its data source, its layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from harness.topology import jdbc
from harness.topology.render import DataSource, NodeConfig, render_activemq_xml
from harness.vendors import VendorUnavailable
from harness.vendors.activemq import ActiveMQ
from harness.vendors.activemq_dist import DBCP1_DATA_SOURCE, DBCP2_DATA_SOURCE, Distribution

DEBIAN_HOME = Path("/usr/share/activemq")


def jar(path: Path, entries: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as out:
        for name, text in entries.items():
            out.writestr(name, text)


def upstream_home(root: Path, version: str, dbcp: str = "commons-dbcp2-2.9.0.jar") -> Path:
    """A home laid out like the upstream tarball (bin/activemq.jar, versioned jar names, lib/optional)."""
    home = root / f"apache-activemq-{version}"
    jar(home / "bin" / "activemq.jar", {"META-INF/MANIFEST.MF": "Main-Class: org.apache.activemq.console.Main\n"})
    (home / "bin" / "activemq").write_text("#!/bin/sh\n")
    pom = f"artifactId=activemq-broker\ngroupId=org.apache.activemq\nversion={version}\n"
    jar(
        home / "lib" / f"activemq-broker-{version}.jar",
        {"META-INF/maven/org.apache.activemq/activemq-broker/pom.properties": pom},
    )
    if dbcp:
        jar(home / "lib" / "optional" / dbcp, {})
        pool = "commons-pool2-2.11.1.jar" if "dbcp2" in dbcp else "commons-pool-1.6.jar"
        jar(home / "lib" / "optional" / pool, {})
    return home


def jdbc_xml() -> str:
    source = DataSource("org.postgresql.Driver", "jdbc:postgresql://127.0.0.1:5432/amq", "amq", "amq")
    topology = jdbc(nodes=2)
    group = topology.groups[0]
    node = NodeConfig(
        broker_name="amq1",
        data_dir="/tmp/amq1",
        store_dir="/tmp/store",
        stomp_host="127.0.0.1",
        stomp_port=61613,
        broker=group.broker,
        lock=group.lock,
        jdbc=group.jdbc,
        data_source=source,
    )
    return render_activemq_xml(node)


def test_an_upstream_6x_layout_reports_its_own_version_and_uses_dbcp2(tmp_path: Path) -> None:
    home = upstream_home(tmp_path, "6.1.2")
    dist = Distribution.read(home)
    assert (dist.version, dist.launcher, dist.data_source_class) == (
        "6.1.2",
        home / "bin" / "activemq.jar",
        DBCP2_DATA_SOURCE,
    )
    vendor = ActiveMQ(home=home)
    assert vendor.version() == "6.1.2"
    launch = vendor.prepare(tmp_path / "amq1", jdbc_xml())
    written = (tmp_path / "amq1" / "conf" / "activemq.xml").read_text()
    assert DBCP2_DATA_SOURCE in written and DBCP1_DATA_SOURCE not in written
    assert f"-Dactivemq.home={home}" in launch.argv and str(home / "bin" / "activemq.jar") in launch.argv
    assert (tmp_path / "amq1" / "conf" / "log4j2.properties").is_file()


def test_a_5x_layout_with_dbcp1_keeps_dbcp1(tmp_path: Path) -> None:
    home = upstream_home(tmp_path, "5.15.16", dbcp="commons-dbcp-1.4.jar")
    assert Distribution.read(home).data_source_class == DBCP1_DATA_SOURCE
    ActiveMQ(home=home).prepare(tmp_path / "amq1", jdbc_xml())
    assert DBCP1_DATA_SOURCE in (tmp_path / "amq1" / "conf" / "activemq.xml").read_text()


def test_no_dbcp_at_all_is_refused_for_jdbc_only(tmp_path: Path) -> None:
    home = upstream_home(tmp_path, "5.18.3", dbcp="")
    assert Distribution.read(home).data_source_class is None
    ActiveMQ(home=home).prepare(tmp_path / "plain", "<beans/>")  # shared-file groups need no data source
    with pytest.raises(VendorUnavailable, match=r"vendor activemq 5\.18\.3 at .*: lib/optional has no Commons DBCP"):
        ActiveMQ(home=home).prepare(tmp_path / "amq1", jdbc_xml())


def test_the_version_comes_from_the_file_name_when_the_jar_says_nothing(tmp_path: Path) -> None:
    home = upstream_home(tmp_path, "5.16.7")
    jar(home / "lib" / "activemq-broker-5.16.7.jar", {})
    assert Distribution.read(home).version == "5.16.7"


def test_a_directory_that_is_not_a_distribution_says_what_is_missing(tmp_path: Path) -> None:
    home = upstream_home(tmp_path, "6.0.0")
    (home / "bin" / "activemq.jar").unlink()
    with pytest.raises(VendorUnavailable, match=r"bin/activemq.jar is missing \(bin/activemq is there, but"):
        Distribution.read(home)
    empty = tmp_path / "empty"
    (empty / "bin").mkdir(parents=True)
    jar(empty / "bin" / "activemq.jar", {})
    with pytest.raises(VendorUnavailable, match=r"lib/activemq-broker\*.jar is missing"):
        Distribution.read(empty)


@pytest.mark.skipif(not (DEBIAN_HOME / "bin" / "activemq.jar").exists(), reason="Debian's activemq is not installed")
def test_debians_tree_reads_as_its_upstream_version_with_dbcp1() -> None:
    dist = Distribution.read(DEBIAN_HOME)
    assert dist.version == "5.17.2"
    assert dist.data_source_class == DBCP1_DATA_SOURCE
