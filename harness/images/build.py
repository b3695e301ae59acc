"""Build the images a run needs, only those whose tag is missing, saying what is being done.

The base is a Debian root file system made with debootstrap and imported (no registry); the vendor
images are small Dockerfiles on top of it. With ``--images official`` the official images are
pulled instead, which needs a registry.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

import harness
from harness.images.debian import DebootstrapError, debootstrap, empty_paths, package_version
from harness.images.recipes import (
    LABEL_IMAGE,
    LABEL_RECIPE_HASH,
    LABEL_VENDOR_VERSION,
    BaseRecipe,
    ImagePlan,
    ImageSource,
    plan_images,
)
from harness.runtime.engine import connect
from harness.runtime.run_record import state_dir

Progress = Callable[[str], None]

# A container's default PATH: an imported root file system carries no environment of its own.
_IMPORT_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
]


class ImageBuildError(RuntimeError):
    """An image could not be built or pulled; the message says which and why."""


@dataclass(frozen=True)
class BuildOutcome:
    name: str
    tag: str
    built: bool  # False: the image was already there under its tag
    seconds: float


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "amq-harness"


def vendor_version_label(vendor: str) -> str:
    """The base image's label holding a vendor's Debian package version."""
    return f"{LABEL_VENDOR_VERSION}.{vendor}"


class ImageBuilder:
    def __init__(self, client: docker.DockerClient, progress: Progress = print, cache_dir: Path | None = None) -> None:
        self.client = client
        self.progress = progress
        self.cache_dir = cache_dir or default_cache_dir()

    def present(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def labels(self, tag: str) -> dict[str, str]:
        return dict(self.client.images.get(tag).labels or {})

    def ensure(self, plans: list[ImagePlan]) -> list[BuildOutcome]:
        """Make every planned image present, in order; report each as built or up to date."""
        outcomes = []
        for plan in plans:
            started = time.monotonic()
            if self.present(plan.tag):
                self.progress(f"image {plan.name}: {plan.tag} is up to date")
                outcomes.append(BuildOutcome(plan.name, plan.tag, False, 0.0))
                continue
            self.progress(f"image {plan.name}: building {plan.tag} ({plan.method})")
            if plan.method == "debootstrap":
                self._debootstrap(plan)
            elif plan.method == "dockerfile":
                self._dockerfile(plan)
            else:
                self._pull(plan)
            seconds = time.monotonic() - started
            self.progress(f"image {plan.name}: {plan.tag} ready in {seconds:.1f} s")
            outcomes.append(BuildOutcome(plan.name, plan.tag, True, seconds))
        if any(o.built for o in outcomes):
            self.remove_superseded(plans)
        return outcomes

    def remove_superseded(self, plans: list[ImagePlan]) -> list[str]:
        """Remove older builds of the planned images (each source change makes a new pybroker tag).

        Images from others' builds on top of them, or used by a container, are kept (Docker refuses).
        """
        current = {p.tag for p in plans}
        removed = []
        for plan in reversed(plans):  # vendor images before the base they were built on
            if plan.method == "pull":
                continue
            for image in self.client.images.list(filters={"label": f"{LABEL_IMAGE}={plan.name}"}):
                if image.tags and not current.intersection(image.tags):
                    try:
                        self.client.images.remove(image.id)
                    except docker.errors.APIError:
                        continue
                    removed.extend(image.tags)
                    self.progress(f"removed superseded image {', '.join(image.tags)}")
        return removed

    # -- the base: debootstrap, then docker import ------------------------------------------------
    def _debootstrap(self, plan: ImagePlan) -> None:
        recipe_file = dict(plan.context)["base/recipe.toml"]
        recipe = BaseRecipe.parse(recipe_file.read_text(encoding="utf-8"), str(recipe_file))
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.cache_dir))
        rootfs = workdir / "rootfs"
        try:
            try:
                debootstrap(recipe, rootfs, self.progress, cache_dir=self.cache_dir / "debs")
            except DebootstrapError as exc:
                raise ImageBuildError(f"image {plan.name}: {exc}") from exc
            status = (rootfs / "var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
            labels = {**plan.labels, LABEL_RECIPE_HASH: plan.recipe_hash}
            for vendor, package in recipe.vendor_versions.items():
                labels[vendor_version_label(vendor)] = package_version(status, package) or "unknown"
            empty_paths(rootfs, recipe.empty)
            self._import(rootfs, plan.tag, labels)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _import(self, rootfs: Path, tag: str, labels: dict[str, str]) -> None:
        repository, _, version = tag.rpartition(":")
        changes = [*_IMPORT_CHANGES, *(f"LABEL {k}={v}" for k, v in sorted(labels.items()))]
        started = time.monotonic()
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", "-", "."],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

        def chunks() -> Iterator[bytes]:
            assert tar.stdout is not None
            sent, reported = 0, 0
            while chunk := tar.stdout.read(1 << 20):
                sent += len(chunk)
                if sent - reported >= 100 << 20:
                    reported = sent
                    self.progress(f"  importing: {sent >> 20} MiB sent ({time.monotonic() - started:.0f} s)")
                yield chunk
            self.progress(f"  importing: {sent >> 20} MiB sent, the engine is storing the layer")

        try:
            self.client.api.import_image(
                src=chunks(), repository=repository, tag=version, changes=changes, stream_src=True
            )
        finally:
            tar.wait()
        if tar.returncode != 0:
            error = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
            raise ImageBuildError(f"image {tag}: tar of the root file system failed: {error.strip()}")
        if not self.present(tag):
            raise ImageBuildError(f"image {tag}: docker import finished but the image is not there")

    # -- vendor images: a Dockerfile on the base --------------------------------------------------
    def _dockerfile(self, plan: ImagePlan) -> None:
        assert plan.base is not None
        if not self.present(plan.base):
            raise ImageBuildError(f"image {plan.name}: its base {plan.base} is missing; build the base first")
        labels = {**plan.labels, LABEL_RECIPE_HASH: plan.recipe_hash}
        if plan.name == "pybroker":
            labels[LABEL_VENDOR_VERSION] = harness.__version__
        else:
            base_version = self.labels(plan.base).get(vendor_version_label(plan.name))
            if base_version:
                labels[LABEL_VENDOR_VERSION] = base_version
        context = _context_tar(plan.context)
        stream = self.client.api.build(
            fileobj=context,
            custom_context=True,
            tag=plan.tag,
            buildargs={"BASE": plan.base},
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            _report_build_chunk(chunk, plan, self.progress)
        if not self.present(plan.tag):
            raise ImageBuildError(f"image {plan.name}: the build finished but {plan.tag} is not there")

    # -- official images: pulled from a registry ---------------------------------------------------
    def _pull(self, plan: ImagePlan) -> None:
        repository, _, version = plan.tag.rpartition(":")
        try:
            self.client.images.pull(repository, tag=version)
        except docker.errors.APIError as exc:
            raise ImageBuildError(
                f"image {plan.tag}: cannot pull it ({exc.explanation or exc}); without a registry use the images "
                "built here: amq-harness images build (the default, --images built)"
            ) from exc


def _context_tar(files: tuple[tuple[str, Path], ...]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, path in files:
            info = archive.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with path.open("rb") as data:
                archive.addfile(info, data)
    buffer.seek(0)
    return buffer


def _report_build_chunk(chunk: dict[str, Any], plan: ImagePlan, progress: Progress) -> None:
    if "error" in chunk:
        raise ImageBuildError(f"image {plan.name}: docker build failed: {str(chunk['error']).strip()}")
    line = str(chunk.get("stream", "")).strip()
    if line.startswith("Step "):
        progress(f"  {line}")


def ensure_images(
    vendors: list[str], source: ImageSource = "built", progress: Progress = print, cache_dir: Path | None = None
) -> tuple[list[ImagePlan], list[BuildOutcome]]:
    """Plan the images ``vendors`` need and build what is missing (cached by content): the plans, so that
    a run can keep using exactly these images, and what was built or found up to date."""
    plans = plan_images(vendors, source)
    client = connect(timeout=1800)
    # One builder at a time on this machine: xdist workers (and parallel runs) wait, then find the
    # images up to date, instead of running debootstrap side by side.
    with (state_dir() / "images.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return plans, ImageBuilder(client, progress, cache_dir).ensure(plans)
        finally:
            client.close()
