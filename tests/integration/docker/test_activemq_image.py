"""--activemq-image TAG: ActiveMQ in an image of the user's choosing, found by tag, its home from the image."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.images.build import ImageBuilder
from harness.images.recipes import plan_images
from harness.runtime.engine import EngineUnavailable, connect

pytestmark = [pytest.mark.integration, pytest.mark.nightly]

GIVEN_TAG = "amq-harness-test/activemq:given"

SCENARIO = """
import pytest
from harness.topology import shared_file

@pytest.mark.topology(shared_file(nodes=2))
def test_master_killed(cluster, workload, faults):
    with workload.running(producers=2, consumers=1):
        workload.wait_for_traffic(receipts=30)
        master = cluster.master()
        with faults.kill(master):
            cluster.wait_for_master(timeout=60, exclude=(master.name,))
            workload.wait_for_traffic(receipts=30)
    workload.check(failover_bound_ms=60_000).require(lost=0, split_brain=False)
"""


@pytest.fixture
def given_image() -> Iterator[str]:
    """This project's activemq image under a tag of the user's, as if they had built or pulled it."""
    try:
        client = connect()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    try:
        plans = plan_images(["activemq"])
        ImageBuilder(client, progress=lambda line: None).ensure(plans)
        client.images.get(plans[-1].tag).tag(GIVEN_TAG)
        yield GIVEN_TAG
        client.images.remove(GIVEN_TAG)
    finally:
        client.close()


def run_on_image(project: Path, image: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """The scenario run in ``project`` with --activemq-image ``image``: pytest's outcome and the result line."""
    (project / "test_kill.py").write_text(SCENARIO)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-html-report"]
    argv += ["--results-dir", "out", "--runtime", "docker", "--vendor", "activemq", "--activemq-image", image]
    done = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=900)
    [line] = [json.loads(text) for text in (project / "out" / "results.jsonl").read_text().splitlines()]
    return done, line


def test_a_scenario_runs_on_the_given_image(tmp_path: Path, given_image: str) -> None:
    done, line = run_on_image(tmp_path, given_image)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert (line["vendor"], line["runtime"], line["verdict"]) == ("activemq", "docker", "pass"), line
    assert line["vendor_version"] == "5.17.2"  # the image's version label


def test_an_image_that_is_not_here_is_an_error_naming_it(tmp_path: Path) -> None:
    done, line = run_on_image(tmp_path, "amq-harness-test/nothing:here")
    assert done.returncode != 0
    assert line["verdict"] == "error"
    assert "--activemq-image amq-harness-test/nothing:here: no such image on this machine" in line["reason"]


def test_the_image_option_needs_the_docker_runtime(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(vendor_name):\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--activemq-image", "x:y"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "--activemq-image x:y runs ActiveMQ in a container: add --runtime docker" in done.stderr
