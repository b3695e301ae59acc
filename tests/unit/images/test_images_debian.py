"""Finding apt's mirror, reading dpkg's status, the debootstrap command line; no process is started."""

from __future__ import annotations

from pathlib import Path

from harness.images.debian import _phase, debootstrap_command, empty_paths, find_mirror, package_version
from harness.images.recipes import BaseRecipe

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
# a comment
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64] http://one.example/debian bookworm main
"""

STATUS = """\
Package: activemq
Status: install ok installed
Version: 5.17.2+dfsg-2+deb12u1
Description: Java message broker
 with a continuation line: Version: 9

Package: python3
Status: deinstall ok config-files
Version: 3.11.2-1+b1
"""


def test_the_mirror_is_the_one_apt_uses_for_the_suite_itself():
    assert find_mirror([("debian.sources", DEB822)], "bookworm") == "http://mirror.example/debian"
    assert find_mirror([("sources.list", ONE_LINE)], "bookworm") == "http://one.example/debian"


def test_no_mirror_for_another_suite():
    assert find_mirror([("debian.sources", DEB822), ("sources.list", ONE_LINE)], "trixie") is None


def test_disabled_stanzas_are_skipped():
    disabled = "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n"
    assert find_mirror([("off.sources", disabled), ("debian.sources", DEB822)], "bookworm") == (
        "http://mirror.example/debian"
    )


def test_package_version_reads_installed_packages_only():
    assert package_version(STATUS, "activemq") == "5.17.2+dfsg-2+deb12u1"
    assert package_version(STATUS, "python3") is None
    assert package_version(STATUS, "zookeeper") is None


def test_debootstrap_command():
    recipe = BaseRecipe("bookworm", "minbase", ("python3", "activemq"))
    assert debootstrap_command(recipe, Path("/r"), "http://m/debian", Path("/c")) == [
        "debootstrap",
        "--variant=minbase",
        "--include=python3,activemq",
        "--cache-dir=/c",
        "bookworm",
        "/r",
        "http://m/debian",
    ]


def test_progress_groups_debootstraps_lines_into_phases():
    assert _phase("I: Retrieving libc6 2.36-9") == "downloading"
    assert _phase("I: Validating libc6 2.36-9") == "downloading"
    assert _phase("I: Configuring activemq...") == "configuring"
    assert _phase("I: Base system installed successfully.") is None
    assert _phase("W: something") is None


def test_empty_paths_keeps_the_directories(tmp_path: Path):
    doc = tmp_path / "usr" / "share" / "doc"
    (doc / "pkg").mkdir(parents=True)
    (doc / "pkg" / "copyright").write_text("x")
    (doc / "README").write_text("x")
    empty_paths(tmp_path, ["usr/share/doc", "not/there"])
    assert doc.is_dir() and list(doc.iterdir()) == []
