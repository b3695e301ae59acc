"""The package list in pyproject.toml names every package of the source tree, so that a non-editable
install (the container image's, a user's ``pip install``) has all of them."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def source_packages(root: Path) -> set[str]:
    found = set()
    for init in (root / "harness").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(root).parts))
    if (root / "fixtures" / "__init__.py").exists():
        found.add("amq_harness_fixtures")  # installed under this name (package-dir in pyproject.toml)
    return found


def listed_packages(pyproject: Path) -> set[str]:
    return set(tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])


def missing_from_list(root: Path) -> list[str]:
    return sorted(source_packages(root) - listed_packages(root / "pyproject.toml"))


def test_every_package_of_the_tree_is_listed_in_pyproject():
    assert missing_from_list(ROOT) == [], "add these to [tool.setuptools] packages in pyproject.toml"


def test_a_package_left_out_of_the_list_is_reported(tmp_path: Path):
    (tmp_path / "harness" / "broker" / "bridge").mkdir(parents=True)
    for package in ("harness", "harness/broker", "harness/broker/bridge"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools]\npackages = ["harness", "harness.broker"]\n')
    assert missing_from_list(tmp_path) == ["harness.broker.bridge"]
