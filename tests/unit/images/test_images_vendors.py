"""A vendor inside its image launches with the image's paths and names the image to run in."""

from __future__ import annotations

from pathlib import Path

from harness.images.recipes import ImagePlan
from harness.images.vendors import IMAGE_SOURCE_ROOT, ContainerVendor, upstream_version, vendor_as_laid_out_in
from harness.topology import shared_file

PLAN = ImagePlan("pybroker", "amq-harness/pybroker:0123456789abcdef", "dockerfile")


def test_pybroker_in_its_image_runs_the_copied_source_with_the_images_python(tmp_path: Path):
    vendor = ContainerVendor(vendor_as_laid_out_in("pybroker", "built"), PLAN)
    launch = vendor.prepare(tmp_path / "amq1", "<beans/>")
    assert launch.image == PLAN.tag
    assert launch.argv[:2] == ["python3", "-u"]
    assert launch.env == {"PYTHONPATH": str(IMAGE_SOURCE_ROOT)}
    # The node's directory is the host's: the runtime mounts it at the same path.
    assert launch.argv[-1] == f"{tmp_path}/amq1/conf/activemq.xml"
    assert vendor.name == "pybroker" and vendor.unsupported_reason(shared_file(2)) is None


def test_activemq_home_depends_on_the_image(tmp_path: Path):
    debian = vendor_as_laid_out_in("activemq", "built").prepare(tmp_path / "a", "<beans/>")
    official = vendor_as_laid_out_in("activemq", "official").prepare(tmp_path / "b", "<beans/>")
    assert "/usr/share/activemq/bin/activemq.jar" in debian.argv
    assert "/opt/apache-activemq/bin/activemq.jar" in official.argv


def test_versions_are_reported_as_upstream_versions():
    assert upstream_version("5.17.2+dfsg-2+deb12u1") == "5.17.2"
    assert upstream_version("5.18.3") == "5.18.3"
    assert upstream_version("latest") == "latest"
