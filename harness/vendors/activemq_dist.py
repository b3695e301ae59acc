"""An unpacked Apache ActiveMQ Classic distribution: where it launches from, its version, its data source.

Any home laid out like the upstream tarball (5.15 to 6.x: ``bin/activemq.jar`` and the ``bin/activemq``
script, ``lib/activemq-broker-<version>.jar``, ``lib/optional/``) or like Debian's package (the same
with versionless jar names) is accepted. The version is read from the distribution itself, from the
broker jar's Maven metadata (or its manifest, or its file name), never from a package manager, so that
a user's own ActiveMQ is reported as what it is. The JDBC data source is Commons DBCP 2 when the
distribution ships it (upstream 5.18 and 6.x), else Commons DBCP 1 (Debian's 5.17).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.vendors.base import VendorUnavailable

DBCP2_DATA_SOURCE = "org.apache.commons.dbcp2.BasicDataSource"
DBCP1_DATA_SOURCE = "org.apache.commons.dbcp.BasicDataSource"
_BROKER_JAR = re.compile(r"^activemq-broker(?:-(\d+\.\d+[\w.-]*))?\.jar$")
_POM_VERSION = re.compile(r"^version=(\S+)\s*$", re.MULTILINE)
_MANIFEST_VERSION = re.compile(r"^Implementation-Version:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Distribution:
    home: Path
    version: str
    launcher: Path  # the jar ``java -jar`` runs: bin/activemq.jar
    data_source_class: str | None  # None: no Commons DBCP in lib/optional (JDBC groups cannot run)
    data_source_jars: tuple[Path, ...]  # what the data source needs, to check that it is really there

    @classmethod
    def read(cls, home: Path) -> Distribution:
        """The distribution unpacked at ``home``; VendorUnavailable naming what is missing otherwise."""
        home = home.expanduser()
        what = f"ActiveMQ home {home}"
        if not home.is_dir():
            raise VendorUnavailable(f"{what}: no such directory")
        launcher = home / "bin" / "activemq.jar"
        if not launcher.is_file():
            # The bin/activemq script alone is not enough: the harness starts the JVM itself (kill -9 must
            # reach the broker, not a shell wrapper).
            has_script = (home / "bin" / "activemq").is_file()
            hint = " (bin/activemq is there, but the harness runs bin/activemq.jar itself)" if has_script else ""
            raise VendorUnavailable(
                f"{what}: not an unpacked ActiveMQ Classic distribution: bin/activemq.jar is missing{hint}"
            )
        broker_jar = broker_jar_of(home)
        if broker_jar is None:
            raise VendorUnavailable(f"{what}: lib/activemq-broker*.jar is missing, so its version cannot be read")
        source, jars = data_source_of(home / "lib" / "optional")
        return cls(home, version_of(broker_jar), launcher, source, jars)


def broker_jar_of(home: Path) -> Path | None:
    lib = home / "lib"
    if not lib.is_dir():
        return None
    found = sorted(path for path in lib.iterdir() if _BROKER_JAR.match(path.name))
    return found[0] if found else None


def version_of(broker_jar: Path) -> str:
    """From the jar's Maven metadata, else its manifest, else its file name; "unknown" if none says."""
    try:
        with zipfile.ZipFile(broker_jar) as jar:
            names = jar.namelist()
            pom = "META-INF/maven/org.apache.activemq/activemq-broker/pom.properties"
            if pom in names:
                match = _POM_VERSION.search(jar.read(pom).decode("utf-8", "replace"))
                if match:
                    return match.group(1)
            if "META-INF/MANIFEST.MF" in names:
                match = _MANIFEST_VERSION.search(jar.read("META-INF/MANIFEST.MF").decode("utf-8", "replace"))
                if match:
                    return match.group(1)
    except (OSError, zipfile.BadZipFile):
        pass
    named = _BROKER_JAR.match(broker_jar.name)
    return named.group(1) if named and named.group(1) else "unknown"


def _jars(directory: Path, prefix: str) -> list[Path]:
    """``prefix.jar`` or ``prefix-<version>.jar`` in ``directory`` (not ``prefix2...``)."""
    if not directory.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(prefix)}(?:-\d[\w.-]*)?\.jar$")
    return sorted(path for path in directory.iterdir() if pattern.match(path.name))


def data_source_of(optional: Path) -> tuple[str | None, tuple[Path, ...]]:
    """Commons DBCP 2 (with pool 2) when the distribution has it, else DBCP 1 (with pool 1), else None."""
    dbcp2 = _jars(optional, "commons-dbcp2")
    if dbcp2:
        return DBCP2_DATA_SOURCE, (dbcp2[0], *_jars(optional, "commons-pool2")[:1])
    dbcp1 = _jars(optional, "commons-dbcp")
    if dbcp1:
        return DBCP1_DATA_SOURCE, (dbcp1[0], *_jars(optional, "commons-pool")[:1])
    return None, ()
