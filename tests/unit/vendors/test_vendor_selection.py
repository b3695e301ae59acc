"""Which installations a run compares: --activemq-home values or AMQ_HARNESS_ACTIVEMQ_HOME, one label each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_activemq_dist import upstream_home

from harness.vendors import VendorUnavailable
from harness.vendors.activemq import ActiveMQ
from harness.vendors.selection import HOME_ENVIRONMENT, activemq_homes, vendor_choices


def test_the_environment_gives_homes_when_the_option_does_not(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(HOME_ENVIRONMENT, f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    assert activemq_homes(None) == [tmp_path / "a", tmp_path / "b"]
    assert activemq_homes([str(tmp_path / "c")]) == [tmp_path / "c"]  # the option wins
    monkeypatch.delenv(HOME_ENVIRONMENT)
    assert activemq_homes(None) == []


def test_several_homes_are_labelled_by_version_and_activemq_is_implied(tmp_path: Path) -> None:
    old, new = upstream_home(tmp_path, "5.18.3"), upstream_home(tmp_path, "6.1.2")
    choices = vendor_choices(["pybroker"], [old, new])
    assert [(str(c), c.label) for c in choices] == [
        ("pybroker", "pybroker"),
        ("activemq", "activemq-5.18.3"),
        ("activemq", "activemq-6.1.2"),
    ]
    assert choices[1] == "activemq"  # scenarios and known_finding markers compare by name
    vendor = choices[2].vendor()
    assert isinstance(vendor, ActiveMQ) and vendor.version() == "6.1.2"


def test_one_home_keeps_the_plain_name_and_two_of_one_version_are_told_apart(tmp_path: Path) -> None:
    [only] = vendor_choices(["activemq"], [upstream_home(tmp_path / "x", "6.0.0")])
    assert only.label == "activemq" and only.home is not None
    twins = vendor_choices(
        ["activemq"], [upstream_home(tmp_path / "x", "6.0.0"), upstream_home(tmp_path / "y", "6.0.0")]
    )
    assert len({c.label for c in twins}) == 2


def test_the_same_home_twice_or_a_missing_one_stops_the_run(tmp_path: Path) -> None:
    home = upstream_home(tmp_path, "6.1.2")
    with pytest.raises(VendorUnavailable, match="the same installation is given twice"):
        vendor_choices(["activemq"], [home, home])
    with pytest.raises(VendorUnavailable, match="no such directory"):
        vendor_choices(["activemq"], [tmp_path / "missing"])
