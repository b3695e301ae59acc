"""Apache ActiveMQ Classic from Debian's ``activemq`` package, run as a plain Java process.

The JVM is started directly rather than through /usr/bin/activemq, whose shell wrapper would
survive a kill -9 of its PID and leave the broker running.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from harness.topology.model import Topology
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


class ActiveMQ:
    name = "activemq"

    def __init__(self, home: Path = ACTIVEMQ_HOME, java: str = "java", heap_mb: int = 256) -> None:
        self.home = home
        self.java = java
        self.heap_mb = heap_mb

    @property
    def jar(self) -> Path:
        return self.home / "bin" / "activemq.jar"

    def check_installed(self) -> None:
        if shutil.which(self.java) is None:
            raise VendorUnavailable(f"vendor activemq needs Java, and {self.java!r} is not on PATH: {INSTALL_HINT}")
        if not self.jar.is_file():
            raise VendorUnavailable(f"vendor activemq: ActiveMQ Classic not found ({self.jar} missing): {INSTALL_HINT}")

    def version(self) -> str:
        try:
            out = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", "activemq"], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        match = re.match(r"\d+(\.\d+)*", out)
        return match.group(0) if match else "unknown"

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

    def _link_jdbc_drivers(self, activemq_xml: str, lib: Path) -> None:
        if "jdbcPersistenceAdapter" in activemq_xml:
            for dependency, needed_from in (
                ("commons-dbcp.jar", "libcommons-dbcp-java"),
                ("commons-pool.jar", "libcommons-pool-java"),
            ):
                # Debian's activemq ships only a link into another package, which may be missing.
                if not (self.home / "lib" / "optional" / dependency).exists():
                    raise VendorUnavailable(
                        f"vendor activemq: {dependency} (the JDBC data source) is missing: run scripts/setup.sh "
                        f"(as root) or: apt-get install -y {needed_from}"
                    )
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
        (conf / "activemq.xml").write_text(activemq_xml, encoding="utf-8")
        (conf / "log4j.properties").write_text(_LOG4J, encoding="utf-8")
        self._link_jdbc_drivers(activemq_xml, node_dir / "lib")
        argv = [
            self.java,
            f"-Xmx{self.heap_mb}m",
            "--add-opens",
            "java.base/java.lang=ALL-UNNAMED",
            f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
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
