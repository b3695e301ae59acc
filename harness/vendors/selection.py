"""Which vendors a run compares: names, and for ActiveMQ which installations (``--activemq-home``).

A :class:`VendorChoice` is the vendor's name as scenarios compare it (``vendor_name == "activemq"``,
``known_finding(vendor="activemq")``) that also carries which installation and the label it runs
under: with several ActiveMQ homes, each is its own parametrization and its own report column,
labelled by the version its distribution reports (``activemq-5.17.2``, ``activemq-6.1.2``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from harness.vendors.activemq import ActiveMQ
from harness.vendors.activemq_dist import Distribution
from harness.vendors.base import Vendor, VendorUnavailable, get_vendor

HOME_ENVIRONMENT = "AMQ_HARNESS_ACTIVEMQ_HOME"


class VendorChoice(str):
    """A vendor name that carries its label and, for ActiveMQ, the home to run it from."""

    label: str
    home: Path | None

    def __new__(cls, name: str, label: str | None = None, home: Path | None = None) -> VendorChoice:
        choice = super().__new__(cls, name)
        choice.label = label or name
        choice.home = home
        return choice

    def vendor(self) -> Vendor:
        """The vendor installed on this machine (the given ActiveMQ home, or the default installation)."""
        if self.home is not None:
            return ActiveMQ(home=self.home)
        return get_vendor(str(self))


def activemq_homes(given: list[str] | None) -> list[Path]:
    """``--activemq-home`` values, else AMQ_HARNESS_ACTIVEMQ_HOME (several separated by ``os.pathsep``)."""
    if given:
        return [Path(home).expanduser() for home in given]
    from_env = os.environ.get(HOME_ENVIRONMENT, "")
    return [Path(home).expanduser() for home in from_env.split(os.pathsep) if home.strip()]


def vendor_choices(vendors: list[str], homes: list[Path]) -> list[VendorChoice]:
    """One choice per vendor, and per ActiveMQ home when homes are given (ActiveMQ is then implied).

    Raises VendorUnavailable when a home is not a distribution: a run that would silently fall back to
    another ActiveMQ would compare the wrong versions.
    """
    resolved = [home.resolve() for home in homes]
    if len(set(resolved)) != len(resolved):
        twice = sorted({str(home) for home in resolved if resolved.count(home) > 1})
        raise VendorUnavailable(f"--activemq-home: the same installation is given twice ({', '.join(twice)})")
    names = list(dict.fromkeys(vendors))
    if homes and "activemq" not in names:
        names.append("activemq")
    choices: list[VendorChoice] = []
    for name in names:
        if name != "activemq" or not homes:
            choices.append(VendorChoice(name))
            continue
        versions = [Distribution.read(home).version for home in homes]
        if len(homes) == 1:
            choices.append(VendorChoice(name, home=homes[0].resolve()))
            continue
        repeated = {version for version, count in Counter(versions).items() if count > 1}
        for home, version in zip(homes, versions, strict=True):
            # Two homes of one version still get columns of their own, told apart by directory.
            label = f"activemq-{version}" + (f"-{home.resolve().name}" if version in repeated else "")
            taken = {choice.label for choice in choices}
            unique, n = label, 1
            while unique in taken:  # same version, same directory name, different places
                n += 1
                unique = f"{label}-{n}"
            choices.append(VendorChoice(name, label=unique, home=home.resolve()))
    return choices
