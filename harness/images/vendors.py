"""A vendor as it runs inside its image: the same launch, with the image's paths and the image named.

The docker runtime mounts each node's directory and the shared stores at the same paths as on the
host, so the vendor lays a node out exactly as it does locally; only where its software lives
inside the image differs (python3 and /opt/amq-harness for pybroker, ActiveMQ's home directory).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import docker.errors

from harness.images.recipes import LABEL_VENDOR_VERSION, ImagePlan, ImageSource, image_for
from harness.runtime.engine import EngineUnavailable, connect
from harness.topology.model import Topology
from harness.vendors.activemq import ActiveMQ
from harness.vendors.base import LaunchSpec, Vendor, VendorUnavailable
from harness.vendors.pybroker import PyBroker

# Where harness/images/recipe_files/pybroker/Dockerfile copies the harness package.
IMAGE_SOURCE_ROOT = Path("/opt/amq-harness")
DEBIAN_ACTIVEMQ_HOME = Path("/usr/share/activemq")
OFFICIAL_ACTIVEMQ_HOME = Path("/opt/apache-activemq")


def vendor_as_laid_out_in(vendor: str, source: ImageSource) -> Vendor:
    """The vendor configured with the paths of its image."""
    if vendor == "pybroker":
        return PyBroker(python="python3", source_root=IMAGE_SOURCE_ROOT)
    if vendor == "activemq":
        return ActiveMQ(home=OFFICIAL_ACTIVEMQ_HOME if source == "official" else DEBIAN_ACTIVEMQ_HOME)
    raise ValueError(f"no image for vendor {vendor!r} (known: activemq, pybroker)")


def upstream_version(version: str) -> str:
    """'5.17.2+dfsg-2+deb12u1' -> '5.17.2', as the local activemq vendor reports Debian's package."""
    match = re.match(r"\d+(\.\d+)*", version)
    return match.group(0) if match else version


class ContainerVendor:
    """Wraps a vendor for the docker runtime: checks its image instead of a local installation."""

    def __init__(self, inner: Vendor, plan: ImagePlan) -> None:
        self.inner = inner
        self.plan = plan
        self.name = inner.name
        self._version: str | None = None

    @property
    def image(self) -> str:
        return self.plan.tag

    def check_installed(self) -> None:
        try:
            client = connect()
        except EngineUnavailable as exc:
            raise VendorUnavailable(f"vendor {self.name} in containers: {exc}") from exc
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound as exc:
            raise VendorUnavailable(
                f"vendor {self.name}: image {self.image} is not built (or is out of date with this checkout): "
                f"run amq-harness images build --vendor {self.name}"
            ) from exc
        finally:
            client.close()

    def version(self) -> str:
        """The version the image was labelled with at build time, else its tag's version."""
        if self._version is None:
            label = None
            try:
                client = connect(timeout=10)
                try:
                    label = (client.images.get(self.image).labels or {}).get(LABEL_VENDOR_VERSION)
                finally:
                    client.close()
            except (EngineUnavailable, docker.errors.DockerException):
                label = None
            self._version = upstream_version(label or self.image.rpartition(":")[2])
        return self._version

    def unsupported_reason(self, topology: Topology) -> str | None:
        return self.inner.unsupported_reason(topology)

    def prepare(self, node_dir: Path, activemq_xml: str) -> LaunchSpec:
        return replace(self.inner.prepare(node_dir, activemq_xml), image=self.image)


def vendor_in_image(vendor: str, source: ImageSource = "built", plan: ImagePlan | None = None) -> ContainerVendor:
    """``plan``: the image built for this run; by default the one this checkout's sources hash to now."""
    return ContainerVendor(vendor_as_laid_out_in(vendor, source), plan or image_for(vendor, source))


def vendor_in_given_image(tag: str) -> ContainerVendor:
    """ActiveMQ in an image of the user's choosing (``--activemq-image TAG``), already on this machine.

    Its home is the image's ACTIVEMQ_HOME (the official images and this project's set it), else the
    official images' /opt/apache-activemq; its version is the image's version label, else its tag's.
    """
    try:
        client = connect(timeout=30)
    except EngineUnavailable as exc:
        raise VendorUnavailable(f"--activemq-image {tag}: {exc}") from exc
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound as exc:
        raise VendorUnavailable(
            f"--activemq-image {tag}: no such image on this machine (docker pull or build it first)"
        ) from exc
    finally:
        client.close()
    env = dict(item.split("=", 1) for item in (image.attrs.get("Config") or {}).get("Env") or [] if "=" in item)
    home = Path(env.get("ACTIVEMQ_HOME") or OFFICIAL_ACTIVEMQ_HOME)
    return ContainerVendor(ActiveMQ(home=home), ImagePlan("activemq", tag, "pull"))
