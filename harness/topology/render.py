"""Render one node of a topology as the activemq.xml both vendors read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from harness.topology.model import LockSettings

_BEANS_OPEN = """<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans
    http://www.springframework.org/schema/beans/spring-beans.xsd
    http://activemq.apache.org/schema/core
    http://activemq.apache.org/schema/core/activemq-core.xsd">"""


@dataclass(frozen=True)
class NodeConfig:
    """Everything the renderer needs for one node, resolved by the runtime (paths, ports).

    ``stomp_host``/``stomp_port`` are where the broker listens, which in a container is not where
    clients reach it (see Runtime.listen_address).
    """

    broker_name: str
    data_dir: Path
    store_dir: Path
    stomp_host: str
    stomp_port: int
    lock: LockSettings


def _attrs(**values: object) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in values.items() if v is not None)


def render_activemq_xml(node: NodeConfig) -> str:
    locker = ""
    if node.lock.acquire_sleep_ms is not None:
        locker = (
            "\n        <locker><shared-file-locker"
            f"{_attrs(lockAcquireSleepInterval=node.lock.acquire_sleep_ms)}/></locker>\n      "
        )
    kahadb = _attrs(directory=node.store_dir, lockKeepAlivePeriod=node.lock.keepalive_ms)
    broker = _attrs(brokerName=node.broker_name, dataDirectory=node.data_dir, useJmx="false", persistent="true")
    connector = _attrs(name="stomp", uri=f"stomp://{node.stomp_host}:{node.stomp_port}")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
{_BEANS_OPEN}
  <broker xmlns="http://activemq.apache.org/schema/core"{broker}>
    <persistenceAdapter>
      <kahaDB{kahadb}>{locker}</kahaDB>
    </persistenceAdapter>
    <transportConnectors>
      <transportConnector{connector}/>
    </transportConnectors>
  </broker>
</beans>
"""
