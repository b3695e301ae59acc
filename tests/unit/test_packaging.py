"""Every package of the source tree goes into the wheel: setup.py discovers them, so that a
non-editable install (the container image's, a user's ``pip install``) has all of them. The wheel
itself is built and installed by tests/integration/test_wheel_install.py."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[2]


def source_packages(root: Path) -> set[str]:
    found = {".".join(init.parent.relative_to(root).parts) for init in (root / "harness").rglob("__init__.py")}
    if (root / "fixtures" / "__init__.py").exists():
        found.add("amq_harness_fixtures")  # installed under this name (package_dir in setup.py)
    return found


def packaged(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What setup.py hands to setuptools, run in ``root``."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: seen.update(kwargs))
    monkeypatch.chdir(root)
    runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return seen


def test_every_package_of_the_tree_is_packaged(monkeypatch: pytest.MonkeyPatch) -> None:
    config = packaged(ROOT, monkeypatch)
    assert set(config["packages"]) == source_packages(ROOT)
    assert config["package_dir"] == {"amq_harness_fixtures": "fixtures"}


def test_a_new_subpackage_is_found_without_editing_a_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for package in ("harness", "harness/broker", "harness/broker/bridge", "fixtures"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "__init__.py").write_text("")  # not ours: not packaged
    assert set(packaged(tmp_path, monkeypatch)["packages"]) == {
        "harness",
        "harness.broker",
        "harness.broker.bridge",
        "amq_harness_fixtures",
    }
