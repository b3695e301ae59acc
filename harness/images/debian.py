"""A Debian root file system made with debootstrap, from the package mirror this machine's apt uses.

No image registry is involved: debootstrap fetches .deb files the way apt-get does (same mirror, same
proxy), so the base image can be built wherever apt-get install works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from harness.images.recipes import BaseRecipe

DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "AMQ_HARNESS_DEBIAN_MIRROR"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))

Progress = Callable[[str], None]


class DebootstrapError(RuntimeError):
    """debootstrap is missing or failed; the message carries the end of its log."""


def _one_line_entries(text: str) -> Iterable[tuple[list[str], list[str]]]:
    """``deb [options] URI suite components`` lines as (URIs, suites)."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "deb":
            continue
        if words[1].startswith("["):
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = ["deb", *words[1:]]
        if len(words) >= 3:
            yield [words[1]], [words[2]]


def _deb822_entries(text: str) -> Iterable[tuple[list[str], list[str]]]:
    """deb822 stanzas (``Types: deb`` / ``URIs:`` / ``Suites:``) as (URIs, suites)."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            yield fields.get("uris", "").split(), fields.get("suites", "").split()


def find_mirror(sources: Iterable[tuple[str, str]], suite: str) -> str | None:
    """The first archive URI that apt uses for ``suite`` itself, from (file name, text) pairs."""
    for name, text in sources:
        entries = _deb822_entries(text) if name.endswith(".sources") else _one_line_entries(text)
        for uris, suites in entries:
            if suite in suites and uris:
                return uris[0].rstrip("/")
    return None


def read_apt_sources(paths: Iterable[Path] = APT_SOURCES) -> list[tuple[str, str]]:
    found = []
    for path in paths:
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and file.suffix in (".list", ".sources"):
                found.append((file.name, file.read_text(encoding="utf-8", errors="replace")))
    return found


def choose_mirror(suite: str) -> tuple[str, str]:
    """(mirror URI, where it came from): $AMQ_HARNESS_DEBIAN_MIRROR, apt's sources for the suite, or Debian's."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV], f"${MIRROR_ENV}"
    mirror = find_mirror(read_apt_sources(), suite)
    if mirror:
        return mirror, "apt's sources"
    return DEFAULT_MIRROR, f"default (apt has no source for {suite})"


def apt_proxy() -> str | None:
    """The HTTP proxy apt is configured with (Acquire::http::Proxy), if any."""
    try:
        out = subprocess.run(
            ["apt-config", "shell", "PROXY", "Acquire::http::Proxy"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.strip().removeprefix("PROXY=").strip("'\"")
    return value or None


def package_version(dpkg_status: str, package: str) -> str | None:
    """The installed version of ``package`` in the text of a dpkg status file."""
    for stanza in dpkg_status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[:1].isspace())
        if fields.get("Package") == package and "installed" in fields.get("Status", "").split():
            return fields.get("Version")
    return None


def debootstrap_command(recipe: BaseRecipe, target: Path, mirror: str, cache_dir: Path | None) -> list[str]:
    argv = ["debootstrap", f"--variant={recipe.variant}"]
    if recipe.packages:
        argv.append(f"--include={','.join(recipe.packages)}")
    if cache_dir is not None:
        argv.append(f"--cache-dir={cache_dir}")
    return [*argv, recipe.suite, str(target), mirror]


# debootstrap prints one line per package and step; the harness prints one line per phase.
_PHASES = {
    "Retrieving": "downloading",
    "Validating": "downloading",
    "Extracting": "extracting",
    "Installing": "unpacking",
    "Unpacking": "unpacking",
    "Configuring": "configuring",
}


def _phase(line: str) -> str | None:
    """'I: Retrieving foo 1.2' -> 'downloading'; None for lines that are not per-package steps."""
    if not line.startswith("I: "):
        return None
    return _PHASES.get(line[3:].split(" ", 1)[0])


def debootstrap(
    recipe: BaseRecipe, target: Path, progress: Progress, cache_dir: Path | None = None, mirror: str | None = None
) -> None:
    """Make the root file system in ``target``, reporting phases and package counts as it goes."""
    if shutil.which("debootstrap") is None:
        raise DebootstrapError("debootstrap is not installed: apt-get install -y debootstrap (scripts/setup.sh does)")
    if os.geteuid() != 0:
        raise DebootstrapError("building the base image needs root (debootstrap installs packages into a chroot)")
    if mirror is None:
        mirror, origin = choose_mirror(recipe.suite)
    else:
        origin = "given"
    env = dict(os.environ)
    proxy = apt_proxy()
    if proxy:
        env.setdefault("http_proxy", proxy)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    argv = debootstrap_command(recipe, target, mirror, cache_dir)
    extra = f"+{len(recipe.packages)} packages"
    progress(f"debootstrap {recipe.suite} ({recipe.variant}, {extra}) from {mirror} [{origin}]")
    log_lines: list[str] = []
    started = time.monotonic()
    phase, count, last_report = "", 0, started
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            log_lines.append(line)
            if line.startswith(("W:", "E:")):
                progress(f"  {line}")
            current = _phase(line)
            if current is None:
                continue
            if current != phase:
                if phase:
                    progress(f"  {phase}: {count} steps ({time.monotonic() - started:.0f} s)")
                phase, count = current, 0
            count += 1
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                progress(f"  {phase}: {count} steps so far ({time.monotonic() - started:.0f} s)")
        if phase:
            progress(f"  {phase}: {count} steps ({time.monotonic() - started:.0f} s)")
        returncode = proc.wait()
    if returncode != 0:
        tail = "\n".join(log_lines[-30:])
        raise DebootstrapError(
            f"debootstrap {' '.join(argv[1:])} failed (exit {returncode}); its output ended with:\n{tail}"
        )
    progress(f"  root file system ready in {time.monotonic() - started:.0f} s")


def empty_paths(root: Path, relative: Iterable[str]) -> None:
    """Remove what is inside each directory (documentation, caches), keeping the directory itself."""
    for name in relative:
        path = root / name
        if not path.is_dir():
            continue
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
