"""Apache ActiveMQ Classic, run as a plain Java process: Debian's ``activemq`` package by default, or
any unpacked distribution (``--activemq-home``, harness/vendors/activemq_dist.py).

The JVM is started directly rather than through /usr/bin/activemq, whose shell wrapper would
survive a kill -9 of its PID and leave the broker running.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.topology.model import Topology
from harness.vendors.activemq_dist import DBCP1_DATA_SOURCE, Distribution
from harness.vendors.base import LaunchSpec, VendorUnavailable

ACTIVEMQ_HOME = Path("/usr/share/activemq")
INSTALL_HINT = "run scripts/setup.sh (as root) or: apt-get install -y activemq"
# JDBC drivers from Debian's packages, linked into each node's ${activemq.base}/lib, which ActiveMQ's
# launcher puts on the classpath. Commons DBCP (the data source) ships in ActiveMQ's lib/optional.
JDBC_DRIVERS = {
    "org.postgresql.Driver": (Path("/usr/share/java/postgresql.jar"), "libpostgresql-jdbc-java"),
    "org.mariadb.jdbc.Driver": (Path("/usr/share/java/mariadb-java-client.jar"), "libmariadb-java"),
}

_LOG4J = """\
log4j.rootLogger=INFO, out
log4j.logger.org.apache.activemq.spring=WARN
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n
"""


_LOG4J2 = """\
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=out
logger.spring.name=org.springframework
logger.spring.level=WARN
logger.xbean.name=org.apache.xbean
logger.xbean.level=WARN
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=%d{ISO8601} %-5p [%t] %c{1} - %m%n
"""


class ActiveMQ:
    name = "activemq"

    def __init__(self, home: Path = ACTIVEMQ_HOME, java: str = "java", heap_mb: int = 256) -> None:
        self.home = home
        self.java = java
        self.heap_mb = heap_mb
        self._distribution: Distribution | None = None

    @property
    def jar(self) -> Path:
        return self.home / "bin" / "activemq.jar"

    @property
    def distribution(self) -> Distribution:
        """The distribution at ``home``, read once (VendorUnavailable when it is not one)."""
        if self._distribution is None:
            self._distribution = Distribution.read(self.home)
        return self._distribution

    def check_installed(self) -> None:
        if shutil.which(self.java) is None:
            raise VendorUnavailable(f"vendor activemq needs Java, and {self.java!r} is not on PATH: {INSTALL_HINT}")
        try:
            self.distribution  # noqa: B018 (reading it checks the layout)
        except VendorUnavailable as exc:
            hint = f": {INSTALL_HINT}" if self.home == ACTIVEMQ_HOME else ""
            raise VendorUnavailable(f"vendor activemq: {exc}{hint}") from exc

    def version(self) -> str:
        """The version the distribution says it is (its broker jar), not what a package manager says."""
        try:
            return self.distribution.version
        except VendorUnavailable:
            return "unknown"

    def unsupported_reason(self, topology: Topology) -> str | None:
        for group in topology.groups:
            if group.store == "replicated":
                # Checked by running: Debian's 5.17.2 has no activemq-leveldb-store jar, so the broker
                # would refuse <replicatedLevelDB> at start.
                return (
                    f"vendor activemq {self.version()}: <replicatedLevelDB> is not supported "
                    "(the replicated LevelDB store was removed in ActiveMQ 5.17.0, AMQ-7502)"
                )
            if group.store not in ("shared-file", "jdbc"):
                return f"vendor activemq {self.version()}: store {group.store} is not supported here"
        return None

    def _data_source(self, activemq_xml: str) -> str:
        """The activemq.xml with the data source this distribution ships (DBCP 2 or DBCP 1)."""
        if "jdbcPersistenceAdapter" not in activemq_xml or not self.home.is_dir():
            # Not a JDBC group, or a home inside a container image (checked when the image is built).
            return activemq_xml
        dist = self.distribution
        if dist.data_source_class is None:
            raise VendorUnavailable(
                f"vendor activemq {dist.version} at {dist.home}: lib/optional has no Commons DBCP "
                "(commons-dbcp2 or commons-dbcp), the JDBC data source"
            )
        for jar in dist.data_source_jars:
            if not jar.exists():
                # Debian's activemq ships only a link into another package, which may be missing.
                package = "libcommons-pool-java" if "pool" in jar.name else "libcommons-dbcp-java"
                raise VendorUnavailable(
                    f"vendor activemq: {jar} (the JDBC data source) is missing: run scripts/setup.sh (as root) "
                    f"or: apt-get install -y {package}"
                )
        return activemq_xml.replace(DBCP1_DATA_SOURCE, dist.data_source_class)

    def _link_jdbc_drivers(self, activemq_xml: str, lib: Path) -> None:
        for driver, (jar, package) in JDBC_DRIVERS.items():
            if driver not in activemq_xml:
                continue
            if not jar.is_file():
                raise VendorUnavailable(
                    f"vendor activemq: the JDBC driver {driver} ({jar}) is missing: run scripts/setup.sh (as root) "
                    f"or: apt-get install -y {package}"
                )
            link = lib / jar.name
            if not link.exists():
                link.symlink_to(jar)

    def prepare(self, node_dir: Path, activemq_xml: str) -> LaunchSpec:
        conf, data = node_dir / "conf", node_dir / "data"
        for path in (conf, data, node_dir / "lib"):
            path.mkdir(parents=True, exist_ok=True)
        activemq_xml = self._data_source(activemq_xml)
        (conf / "activemq.xml").write_text(activemq_xml, encoding="utf-8")
        (conf / "log4j.properties").write_text(_LOG4J, encoding="utf-8")
        (conf / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")
        self._link_jdbc_drivers(activemq_xml, node_dir / "lib")
        argv = [
            self.java,
            f"-Xmx{self.heap_mb}m",
            "--add-opens",
            "java.base/java.lang=ALL-UNNAMED",
            f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
            # 5.18 and 6.x log with log4j 2: the same lines the harness reads (roles, slave mode).
            f"-Dlog4j2.configurationFile=file:{conf / 'log4j2.properties'}",
            f"-Dactivemq.home={self.home}",
            f"-Dactivemq.base={node_dir}",
            f"-Dactivemq.conf={conf}",
            f"-Dactivemq.data={data}",
            "-jar",
            str(self.jar),
            "start",
            f"xbean:file:{conf / 'activemq.xml'}",
        ]
        return LaunchSpec(argv=argv, cwd=node_dir)
