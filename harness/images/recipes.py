"""Image recipes and their content hashes: which images a run needs, and whether the ones built are current.

Pure: it reads the recipe files under harness/images/recipe_files/ and the harness source and names the images;
building them is harness.images.build. An image's tag carries the hash of everything it is made
from, so an image that exists under its tag is current and is never built again.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import harness

REPOSITORY = "amq-harness"
LABEL_PREFIX = "org.amq-harness"
LABEL_IMAGE = f"{LABEL_PREFIX}.image"
LABEL_RECIPE_HASH = f"{LABEL_PREFIX}.recipe-hash"
LABEL_VENDOR_VERSION = f"{LABEL_PREFIX}.vendor-version"

# Part of every hash: bump it when the build procedure (not a recipe) changes what an image contains.
BUILD_PROCEDURE = "debootstrap-import-1"

ImageSource = Literal["built", "official"]
IMAGE_SOURCES: tuple[ImageSource, ...] = ("built", "official")

# Used instead of the images built here when a registry is reachable (--images official).
OFFICIAL_ACTIVEMQ = "apache/activemq-classic:5.18.3"
OFFICIAL_PYTHON = "python:3.11-slim"

BuildMethod = Literal["debootstrap", "dockerfile", "pull"]


class RecipeError(ValueError):
    """A recipe file is missing or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class BaseRecipe:
    """The Debian root file system shared by both images (harness/images/recipe_files/base/recipe.toml)."""

    suite: str
    variant: str
    packages: tuple[str, ...]
    vendor_versions: dict[str, str] = field(default_factory=dict)
    empty: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, source: str = "recipe.toml") -> BaseRecipe:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RecipeError(f"{source}: not valid TOML: {exc}") from exc
        for key in ("suite", "variant", "packages"):
            if key not in data:
                raise RecipeError(f"{source}: the field {key!r} is missing")
        packages = data["packages"]
        if not isinstance(packages, list) or not all(isinstance(p, str) and p for p in packages):
            raise RecipeError(f"{source}: 'packages' must be a list of Debian package names")
        empty = tuple(str(p) for p in data.get("empty", []))
        for path in empty:
            if path.startswith("/") or ".." in Path(path).parts:
                raise RecipeError(f"{source}: 'empty' paths are relative to the root file system, not {path!r}")
        versions = data.get("vendor_versions", {})
        if not isinstance(versions, dict):
            raise RecipeError(f"{source}: 'vendor_versions' must map a vendor name to a Debian package")
        return cls(
            suite=str(data["suite"]),
            variant=str(data["variant"]),
            packages=tuple(packages),
            vendor_versions={str(k): str(v) for k, v in versions.items()},
            empty=empty,
        )


@dataclass(frozen=True)
class ImagePlan:
    """One image to have locally: its tag, how it is made and from what."""

    name: str
    tag: str
    method: BuildMethod
    recipe_hash: str = ""
    base: str | None = None  # the tag a Dockerfile builds FROM
    # Files sent as the build context: (name inside the context, file on disk).
    context: tuple[tuple[str, Path], ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


def content_hash(parts: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over (name, content) pairs, independent of their order; lengths keep boundaries unambiguous."""
    digest = hashlib.sha256()
    for name, data in sorted(parts):
        encoded = name.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big") + encoded + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def tree_files(root: Path, prefix: str, exclude: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    """Every file under ``root`` as (``prefix``/relative name, path), without bytecode caches and
    without the subdirectories named in ``exclude`` (relative to ``root``)."""
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or "__pycache__" in relative.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if any(relative.as_posix().startswith(f"{skipped}/") for skipped in exclude):
            continue
        found.append((f"{prefix}/{relative.as_posix()}", path))
    return found


def harness_source_root() -> Path:
    """The checkout (or installation) whose ``harness`` package this process imported."""
    return Path(harness.__file__).resolve().parent.parent


# The recipes are package data of this package, next to the code that reads them: a checkout and an
# installed wheel find them at the same place.
RECIPES_SUBDIR = "images/recipe_files"


def recipes_dir(source_root: Path | None = None) -> Path:
    """harness/images/recipe_files of the checkout or installation (``source_root``: the one holding ``harness``)."""
    recipes = (source_root or harness_source_root()) / "harness" / RECIPES_SUBDIR
    if not recipes.is_dir():
        raise RecipeError(f"image recipes not found at {recipes}: the harness package is incomplete, reinstall it")
    return recipes


def _read(files: Sequence[tuple[str, Path]]) -> list[tuple[str, bytes]]:
    return [(name, path.read_bytes()) for name, path in files]


def _short(digest: str) -> str:
    return digest[:16]


def plan_images(
    vendors: Iterable[str],
    source: ImageSource = "built",
    recipes: Path | None = None,
    source_root: Path | None = None,
) -> list[ImagePlan]:
    """The images the vendors need, each after the image it builds from (build order)."""
    wanted = list(dict.fromkeys(vendors))
    unknown = sorted(set(wanted) - {"pybroker", "activemq"})
    if unknown:
        raise RecipeError(f"no image recipe for vendor(s) {', '.join(unknown)} (known: activemq, pybroker)")
    if source not in IMAGE_SOURCES:
        raise RecipeError(f"unknown image source {source!r} (known: {', '.join(IMAGE_SOURCES)})")
    recipes = recipes or recipes_dir(source_root)
    root = source_root or harness_source_root()
    plans: list[ImagePlan] = []

    base_tag: str
    base_hash: str
    if source == "built":
        base_files = tree_files(recipes / "base", "base")
        if not base_files:
            raise RecipeError(f"the base image recipe is missing: {recipes / 'base' / 'recipe.toml'}")
        base_hash = content_hash([*_read(base_files), ("build-procedure", BUILD_PROCEDURE.encode())])
        base_tag = f"{REPOSITORY}/base:{_short(base_hash)}"
        plans.append(
            ImagePlan("base", base_tag, "debootstrap", base_hash, context=tuple(base_files), labels=_labels("base"))
        )
    else:
        base_tag, base_hash = OFFICIAL_PYTHON, OFFICIAL_PYTHON
        if "pybroker" in wanted:
            plans.append(ImagePlan("python", OFFICIAL_PYTHON, "pull"))

    for vendor in ("pybroker", "activemq"):
        if vendor not in wanted:
            continue
        if vendor == "activemq" and source == "official":
            plans.append(ImagePlan("activemq", OFFICIAL_ACTIVEMQ, "pull"))
            continue
        files = [("Dockerfile", recipes / vendor / "Dockerfile")]
        if not files[0][1].is_file():
            raise RecipeError(f"the {vendor} image recipe is missing: {files[0][1]}")
        if vendor == "pybroker":
            # The harness as the image copies it; the recipes count through their own files above.
            files += tree_files(root / "harness", "harness", exclude=(RECIPES_SUBDIR,))
        digest = content_hash([*_read(files), ("base", base_hash.encode())])
        plans.append(
            ImagePlan(
                vendor,
                f"{REPOSITORY}/{vendor}:{_short(digest)}",
                "dockerfile",
                digest,
                base=base_tag,
                context=tuple(files),
                labels=_labels(vendor),
            )
        )
    return plans


def _labels(name: str) -> dict[str, str]:
    return {LABEL_IMAGE: name}


def image_for(vendor: str, source: ImageSource = "built") -> ImagePlan:
    """The plan of the image a vendor's nodes run in."""
    return plan_images([vendor], source)[-1]


def database_image(source: ImageSource = "built") -> str:
    """The image database containers run in: the built base, which carries PostgreSQL and MariaDB."""
    if source != "built":
        raise RecipeError(
            "database containers run on the built base image only (--images built): the official postgres and "
            "mariadb images start differently and are not wired in yet"
        )
    return plan_images([], source)[0].tag
