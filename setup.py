"""Package discovery: every package under harness/, found rather than listed, so that a new subpackage
cannot be left out of the wheel; and fixtures/, installed as amq_harness_fixtures so that it cannot
shadow the unrelated PyPI package named "fixtures" in a user's environment. Everything else is in
pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["harness", "harness.*"]), "amq_harness_fixtures"],
    package_dir={"amq_harness_fixtures": "fixtures"},
)
