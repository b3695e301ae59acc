"""ImageBuilder with a fake engine: present tags are not rebuilt, a failed pull says what to do."""

from __future__ import annotations

import docker.errors
import pytest

from harness.images.build import ImageBuilder, ImageBuildError
from harness.images.recipes import ImagePlan


class FakeImages:
    def __init__(self, present: set[str], pull_error: str | None = None) -> None:
        self.present, self.pull_error = present, pull_error
        self.pulled: list[str] = []

    def get(self, tag: str) -> object:
        if tag not in self.present:
            raise docker.errors.ImageNotFound(f"no such image: {tag}")
        return object()

    def list(self, filters: dict[str, str]) -> list[object]:
        return []  # no older builds to remove

    def pull(self, repository: str, tag: str) -> None:
        if self.pull_error:
            raise docker.errors.APIError("pull failed", explanation=self.pull_error)
        self.pulled.append(f"{repository}:{tag}")
        self.present.add(f"{repository}:{tag}")


class FakeClient:
    def __init__(self, images: FakeImages) -> None:
        self.images = images


def builder(images: FakeImages, lines: list[str]) -> ImageBuilder:
    return ImageBuilder(FakeClient(images), progress=lines.append)  # type: ignore[arg-type]


def test_present_images_are_reported_up_to_date_and_missing_ones_are_made():
    images, lines = FakeImages({"amq-harness/base:1"}), []
    plans = [
        ImagePlan("base", "amq-harness/base:1", "debootstrap"),
        ImagePlan("activemq", "apache/activemq-classic:5.18.3", "pull"),
    ]
    outcomes = builder(images, lines).ensure(plans)
    assert [(o.name, o.built) for o in outcomes] == [("base", False), ("activemq", True)]
    assert images.pulled == ["apache/activemq-classic:5.18.3"]
    assert lines[0] == "image base: amq-harness/base:1 is up to date"
    assert lines[1] == "image activemq: building apache/activemq-classic:5.18.3 (pull)"


def test_a_pull_without_a_registry_points_at_the_images_built_here():
    images = FakeImages(set(), pull_error="registry-1.docker.io: no such host")
    with pytest.raises(ImageBuildError, match=r"cannot pull it \(registry-1.*\).*amq-harness images build"):
        builder(images, []).ensure([ImagePlan("activemq", "apache/activemq-classic:5.18.3", "pull")])
