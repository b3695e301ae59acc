"""Recipe hashing: an image's tag changes exactly when something it is made from changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.images.recipes import (
    OFFICIAL_ACTIVEMQ,
    OFFICIAL_PYTHON,
    BaseRecipe,
    RecipeError,
    content_hash,
    plan_images,
    recipes_dir,
    tree_files,
)

BASE_RECIPE = """
suite = "bookworm"
variant = "minbase"
packages = ["python3", "activemq"]
vendor_versions = { activemq = "activemq" }
empty = ["usr/share/doc"]
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of this checkout's image recipes with a tiny harness package, to change at will."""
    shutil.copytree(recipes_dir(), tmp_path / "harness" / "images" / "recipe_files")
    (tmp_path / "harness" / "broker").mkdir(parents=True, exist_ok=True)
    (tmp_path / "harness" / "__init__.py").write_text("__version__ = '0'\n")
    (tmp_path / "harness" / "broker" / "server.py").write_text("SERVE = 1\n")
    return tmp_path


def tags(root: Path, vendors: tuple[str, ...] = ("pybroker", "activemq")) -> dict[str, str]:
    return {plan.name: plan.tag for plan in plan_images(vendors, "built", source_root=root)}


def test_content_hash_ignores_order_but_not_names_or_contents():
    parts = [("a", b"1"), ("b", b"2")]
    assert content_hash(parts) == content_hash(list(reversed(parts)))
    assert content_hash(parts) != content_hash([("a", b"1"), ("c", b"2")])
    assert content_hash(parts) != content_hash([("a", b"1"), ("b", b"3")])
    # Boundaries are unambiguous: moving a byte from one name to its content changes the hash.
    assert content_hash([("ab", b"c")]) != content_hash([("a", b"bc")])


def test_tree_files_skips_bytecode_caches(tmp_path: Path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "pkg" / "stale.pyc").write_bytes(b"\0")
    assert [name for name, _ in tree_files(tmp_path / "pkg", "harness")] == ["harness/mod.py"]


def test_images_are_planned_base_first_with_content_tags(checkout: Path):
    plans = plan_images(["activemq", "pybroker"], "built", source_root=checkout)
    assert [(p.name, p.method) for p in plans] == [
        ("base", "debootstrap"),
        ("pybroker", "dockerfile"),
        ("activemq", "dockerfile"),
    ]
    base, pybroker, activemq = plans
    assert pybroker.base == base.tag and activemq.base == base.tag
    assert base.tag.startswith("amq-harness/base:") and len(base.tag.rpartition(":")[2]) == 16
    assert {"Dockerfile", "harness/__init__.py", "harness/broker/server.py"} == {n for n, _ in pybroker.context}
    assert [n for n, _ in activemq.context] == ["Dockerfile"]


def test_a_source_change_rebuilds_pybroker_only(checkout: Path):
    before = tags(checkout)
    (checkout / "harness" / "broker" / "server.py").write_text("SERVE = 2\n")
    after = tags(checkout)
    assert after["pybroker"] != before["pybroker"]
    assert after["base"] == before["base"] and after["activemq"] == before["activemq"]


def test_a_bytecode_cache_does_not_count_as_a_source_change(checkout: Path):
    before = tags(checkout)
    (checkout / "harness" / "__pycache__").mkdir()
    (checkout / "harness" / "__pycache__" / "x.pyc").write_bytes(b"\1")
    assert tags(checkout) == before


def test_a_vendor_recipe_change_rebuilds_that_vendor_only(checkout: Path):
    before = tags(checkout)
    dockerfile = checkout / "harness" / "images" / "recipe_files" / "activemq" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "ENV EXTRA=1\n")
    after = tags(checkout)
    assert after["activemq"] != before["activemq"]
    assert after["base"] == before["base"] and after["pybroker"] == before["pybroker"]


def test_a_base_recipe_change_rebuilds_everything(checkout: Path):
    before = tags(checkout)
    recipe = checkout / "harness" / "images" / "recipe_files" / "base" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace('"python3"', '"python3", "procps"'))
    after = tags(checkout)
    assert all(after[name] != before[name] for name in before)


def test_official_images_are_pulled_and_pybroker_builds_on_python_slim(checkout: Path):
    plans = plan_images(["pybroker", "activemq"], "official", source_root=checkout)
    assert [(p.name, p.method, p.tag) for p in plans if p.method == "pull"] == [
        ("python", "pull", OFFICIAL_PYTHON),
        ("activemq", "pull", OFFICIAL_ACTIVEMQ),
    ]
    (pybroker,) = [p for p in plans if p.method == "dockerfile"]
    assert pybroker.base == OFFICIAL_PYTHON
    assert pybroker.tag != tags(checkout, ("pybroker",))["pybroker"]


def test_unknown_vendor_or_source_is_refused(checkout: Path):
    with pytest.raises(RecipeError, match=r"no image recipe for vendor.*rabbit"):
        plan_images(["rabbit"], source_root=checkout)
    with pytest.raises(RecipeError, match="unknown image source 'hub'"):
        plan_images(["pybroker"], "hub", source_root=checkout)  # type: ignore[arg-type]


def test_a_missing_recipe_names_the_file(checkout: Path):
    (checkout / "harness" / "images" / "recipe_files" / "activemq" / "Dockerfile").unlink()
    with pytest.raises(RecipeError, match=r"activemq image recipe is missing: .*activemq/Dockerfile"):
        plan_images(["activemq"], source_root=checkout)


def test_base_recipe_parses():
    recipe = BaseRecipe.parse(BASE_RECIPE)
    assert (recipe.suite, recipe.variant, recipe.packages) == ("bookworm", "minbase", ("python3", "activemq"))
    assert recipe.vendor_versions == {"activemq": "activemq"} and recipe.empty == ("usr/share/doc",)


def test_this_checkouts_base_recipe_parses():
    recipe = BaseRecipe.parse((recipes_dir() / "base" / "recipe.toml").read_text())
    assert recipe.variant == "minbase"
    assert {"python3", "activemq"} <= set(recipe.packages)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('variant = "minbase"\npackages = []', "'suite' is missing"),
        ('suite = "bookworm"\nvariant = "minbase"\npackages = "python3"', "'packages' must be a list"),
        ('suite = "b"\nvariant = "m"\npackages = []\nempty = ["/usr"]', "relative to the root file system"),
        ('suite = "b"\nvariant = "m"\npackages = []\nempty = ["../x"]', "relative to the root file system"),
        ("suite = ", "not valid TOML"),
    ],
)
def test_a_broken_base_recipe_says_what_is_wrong(text: str, message: str):
    with pytest.raises(RecipeError, match=message):
        BaseRecipe.parse(text, "recipe.toml")
