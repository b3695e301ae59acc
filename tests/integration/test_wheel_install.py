"""As a user installs it: the wheel built from this checkout, installed into a fresh virtualenv, runs
the README's scenario from a project directory outside the checkout, on pybroker.

This catches what an editable install hides: a subpackage or data file left out of the wheel, an
import that only works with the checkout on the path, a plugin entry point that does not load.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]


def readme_scenario() -> str:
    """The complete example under "Writing a scenario" in README.md."""
    text = (CHECKOUT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Writing a scenario") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md: no python example under 'Writing a scenario'"
    return match.group(1)


def run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    # Nothing of the checkout on the path: no PYTHONPATH, and the working directory is elsewhere.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS")}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def test_the_wheel_installs_and_runs_the_readme_scenario_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(CHECKOUT)], tmp_path, 300)
    (wheel,) = wheels.glob("amq_harness-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], tmp_path, 600)

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_failover.py").write_text(readme_scenario(), encoding="utf-8")
    where = run([str(python), "-c", "import harness, amq_harness_fixtures; print(harness.__file__)"], project, 60)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), f"harness imported from {where.stdout.strip()}"

    # The image recipes are package data of harness.images: the planner finds them in the installation.
    recipes = run(
        [str(python), "-c", "from harness.images.recipes import recipes_dir; print(recipes_dir())"], project, 60
    )
    assert Path(recipes.stdout.strip()).is_relative_to(env_dir)

    done = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--results-dir", "results"], project, 300)
    print(done.stdout[-1500:])
    [line] = [json.loads(text) for text in (project / "results" / "results.jsonl").read_text().splitlines()]
    assert (line["verdict"], line["vendor"]) == ("pass", "pybroker"), line
    assert line["figures"]["attempted"] >= 50 and line["figures"]["lost"] == 0, line["figures"]
    assert line["vendor_version"], "the result line names the version it ran"
