"""activemq.xml for pybroker nodes on a JDBC store, in the shape the harness renders for both vendors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.services.database import PASSWORD, USER, DatabaseRef

JDBC_CONFIG = """<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans x">
<broker xmlns="http://activemq.apache.org/schema/core" brokerName="{name}" dataDirectory="{data}" useJmx="false"
        persistent="true"{broker_attributes}>
  {extra_xml}
  <persistenceAdapter>
    <jdbcPersistenceAdapter dataSource="#amq-ds" createTablesOnStartup="true" lockKeepAlivePeriod="{keep_alive}">
      <locker>
        {locker}
      </locker>
    </jdbcPersistenceAdapter>
  </persistenceAdapter>
  {handler}
  <transportConnectors><transportConnector name="stomp" uri="stomp://127.0.0.1:{port}"/></transportConnectors>
</broker>
<bean id="amq-ds" class="org.apache.commons.dbcp2.BasicDataSource" destroy-method="close">
  <property name="driverClassName" value="{driver}"/>
  <property name="url" value="{url}"/>
  <property name="username" value="{user}"/>
  <property name="password" value="{password}"/>
</bean>
</beans>
"""

SLAVE_LINE = "is locked by another server. This broker is now in slave mode waiting a lock to be acquired"
STEP_DOWN_LINE = "no longer able to keep the exclusive lock so giving up being a master"
OUTAGE_LINE = "database failure, stopping the connectors and confirming nothing more"


@dataclass(frozen=True)
class JdbcSettings:
    locker: str = "database-locker"  # or "lease-database-locker"
    interval: int = 1000  # lockAcquireSleepInterval (the lease's length for the lease locker)
    keep_alive: int = 300  # lockKeepAlivePeriod
    max_diff: int | None = None  # maxAllowableDiffFromDBTime (lease only)
    resume_check: int | None = None  # leaseLockerIOExceptionHandler resumeCheckSleepPeriod; None: no handler
    stop_start_connectors: bool = True
    extra_xml: str = ""  # more elements inside <broker> (plugins, destinationPolicy)
    broker_attributes: str = ""  # more <broker> attributes, each with a leading space


def jdbc_renderer(db: DatabaseRef, settings: JdbcSettings) -> Callable[[str, int, Path], str]:
    def render(name: str, port: int, node_dir: Path) -> str:
        extra = ""
        if settings.locker == "lease-database-locker" and settings.max_diff is not None:
            extra = f' maxAllowableDiffFromDBTime="{settings.max_diff}"'
        locker = f'<{settings.locker} lockAcquireSleepInterval="{settings.interval}"{extra}/>'
        handler = ""
        if settings.resume_check is not None:
            handler = (
                "<ioExceptionHandler><leaseLockerIOExceptionHandler "
                f'stopStartConnectors="{str(settings.stop_start_connectors).lower()}" '
                f'resumeCheckSleepPeriod="{settings.resume_check}"/></ioExceptionHandler>'
            )
        return JDBC_CONFIG.format(
            name=name,
            broker_attributes=settings.broker_attributes,
            extra_xml=settings.extra_xml,
            data=node_dir / "data",
            keep_alive=settings.keep_alive,
            locker=locker,
            handler=handler,
            port=port,
            driver=db.driver_class,
            url=db.url(),
            user=USER,
            password=PASSWORD,
        )

    return render
