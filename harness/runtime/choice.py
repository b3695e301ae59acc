"""The runtime chosen by name (``local`` or ``docker``), and the vendor as it runs there.

One place for the choice, shared by the pytest plugin and the benches, so that ``--runtime docker``
means the same thing everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from harness.runtime.base import Runtime
from harness.runtime.local import LocalRuntime
from harness.vendors import Vendor, get_vendor

if TYPE_CHECKING:
    from harness.images.recipes import ImagePlan, ImageSource

RuntimeName = Literal["local", "docker"]
RUNTIMES: tuple[RuntimeName, ...] = ("local", "docker")


def runtime_class(name: str) -> type[Runtime]:
    if name == "docker":
        # Imported on demand: it loads the Docker client and testcontainers.
        from harness.runtime.docker import DockerRuntime

        return DockerRuntime
    if name == "local":
        return LocalRuntime
    raise ValueError(f"no runtime {name!r} (known: {', '.join(RUNTIMES)})")


def make_runtime(name: str, workdir: Path) -> Runtime:
    """A fresh runtime whose nodes keep their files under ``workdir``."""
    if name == "docker":
        from harness.runtime.docker import DockerRuntime

        return DockerRuntime(workdir)
    if name == "local":
        return LocalRuntime(workdir)
    raise ValueError(f"no runtime {name!r} (known: {', '.join(RUNTIMES)})")


def vendor_on(runtime: str, vendor: str, images: ImageSource = "built", plan: ImagePlan | None = None) -> Vendor:
    """The vendor as the runtime runs it: installed on this machine, or inside its image (``plan``: the
    image built for this run, so that the run keeps using it even if the sources change meanwhile)."""
    if runtime == "docker":
        from harness.images.vendors import vendor_in_image

        return vendor_in_image(vendor, images, plan)
    return get_vendor(vendor)


def databases_per_run(runtime: str) -> bool:
    """Whether database servers outlive a cluster: local servers serve the whole run (a fresh database per
    cluster); database containers live and die with their cluster's network."""
    return runtime == "local"


def runtime_faults() -> frozenset[str]:
    """Every fault some runtime can inject beyond the process ones (kill, pause, restart)."""
    return frozenset().union(*(runtime_class(name).faults for name in RUNTIMES))


def fault_unsupported_reason(runtime: str, fault: str) -> str | None:
    """Why ``runtime`` cannot inject ``fault`` (naming the runtimes that can), or None when it can."""
    if fault in runtime_class(runtime).faults:
        return None
    able = [name for name in RUNTIMES if fault in runtime_class(name).faults]
    return f"runtime {runtime} cannot inject {fault!r} (runtimes that can: {', '.join(able) or 'none'})"
