"""ActiveMQ from homes of the user's choosing: Debian's tree given explicitly, and a copy of it laid out
like the upstream tarball (versioned jar names, bin/activemq.jar beside the bin/activemq script), in
one run, each its own parametrization and its own report column, with the version read from itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.compare import comparison_markdown
from harness.vendors.activemq_dist import Distribution

pytestmark = [
    pytest.mark.integration,
    pytest.mark.nightly,
    pytest.mark.skipif(not Path("/usr/share/activemq/bin/activemq.jar").exists(), reason="needs Debian's activemq"),
]

DEBIAN_HOME = Path("/usr/share/activemq")

SCENARIO = """
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=2))
def test_master_killed(cluster, workload, faults, vendor):
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic(receipts=30)
        master = cluster.master()
        with faults.kill(master):
            cluster.wait_for_master(timeout=30, exclude=(master.name,))
            workload.wait_for_traffic(receipts=30)
    workload.check(failover_bound_ms=30_000).require(lost=0, split_brain=False)
"""


def upstream_layout(target: Path) -> Path:
    """Debian's tree rearranged as the upstream tarball has it: the jars copied under versioned names."""
    version = Distribution.read(DEBIAN_HOME).version
    home = target / f"apache-activemq-{version}"
    (home / "bin").mkdir(parents=True)
    shutil.copy(DEBIAN_HOME / "bin" / "activemq.jar", home / "bin" / "activemq.jar")
    (home / "bin" / "activemq").write_text('#!/bin/sh\nexec java -jar "$(dirname "$0")/activemq.jar" "$@"\n')
    for sub in ("lib", "lib/optional"):
        (home / sub).mkdir(parents=True, exist_ok=True)
        for jar in (DEBIAN_HOME / sub).glob("*.jar"):
            if jar.exists():  # Debian links into other packages; a missing one is not the tarball's either
                shutil.copy(jar.resolve(), home / sub / f"{jar.stem}-{version}.jar")
    return home


def test_two_homes_run_side_by_side_with_their_versions(tmp_path: Path) -> None:
    copy = upstream_layout(tmp_path / "dist")
    assert Distribution.read(copy).version == Distribution.read(DEBIAN_HOME).version
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_kill.py").write_text(SCENARIO)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--results-dir",
        "out",
        "--no-html-report",
        "--activemq-home",
        str(DEBIAN_HOME),
        "--activemq-home",
        str(copy),
    ]
    env = {k: v for k, v in os.environ.items() if k != "AMQ_HARNESS_ACTIVEMQ_HOME"}
    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    lines = [json.loads(line) for line in (project / "out" / "results.jsonl").read_text().splitlines()]
    by_label = {line["vendor_label"]: line for line in lines if line["vendor"] == "activemq"}
    version = Distribution.read(DEBIAN_HOME).version
    assert set(by_label) == {f"activemq-{version}-activemq", f"activemq-{version}-{copy.name}"}, by_label.keys()
    for line in by_label.values():
        assert (line["verdict"], line["vendor_version"]) == ("pass", version), line
    # pybroker ran too (the default vendor), and the report gives each installation its own column.
    table = comparison_markdown(lines)
    header = table.splitlines()[0]
    assert f"activemq-{version}-activemq" in header and f"activemq-{version}-{copy.name}" in header
    assert "pybroker" in header
    print(table)


def test_a_home_that_is_not_a_distribution_stops_the_run_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(vendor_name):\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--activemq-home", str(tmp_path / "nope")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"ActiveMQ home {tmp_path / 'nope'}: no such directory" in done.stderr
