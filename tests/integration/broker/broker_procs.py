"""Helpers for pybroker integration tests: broker processes on free ports and a blocking STOMP client."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import stomp

import harness
from harness.broker.stomp.frames import V1_2, Frame, FrameParser, encode_frame
from harness.vendors.activemq import ActiveMQ
from harness.vendors.base import VendorUnavailable

REPO = Path(harness.__file__).resolve().parent.parent

# A complete activemq.xml: real ActiveMQ reads this file too (test_broker_activemq_parity.py).
CONFIG = """<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans
         http://www.springframework.org/schema/beans/spring-beans.xsd
         http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="{name}"
          dataDirectory="{data}" useJmx="false" persistent="true"{broker_attrs}>
    {extra}
    <persistenceAdapter>
      <kahaDB directory="{store}" lockKeepAlivePeriod="{keep_alive}">
        <locker><shared-file-locker lockAcquireSleepInterval="{interval}"/></locker>
      </kahaDB>
    </persistenceAdapter>
    <transportConnectors>
      <transportConnector name="stomp"
        uri="stomp://127.0.0.1:{port}?maximumConnections={max_connections}&amp;wireFormat.maxFrameSize={max_frame}"/>
    </transportConnectors>
  </broker>
</beans>
"""

MEMORY_CONFIG = """<broker brokerName="{name}" persistent="false" useJmx="false">
  <transportConnectors><transportConnector name="stomp" uri="stomp://127.0.0.1:{port}"/></transportConnectors>
</broker>
"""

SLAVE_LINE = "is locked by another server. This broker is now in slave mode waiting a lock to be acquired"
STEP_DOWN_LINE = "no longer able to keep the exclusive lock so giving up being a master"


@dataclass(frozen=True)
class Features:
    """Extra activemq.xml for a node: elements inside <broker>, <broker> attributes, connector limits."""

    xml: str = ""
    broker_attributes: str = ""
    maximum_connections: int = 1000
    max_frame_size: int = 104857600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> float:
    """Poll until ``condition`` holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - start


def stomp_connects(port: int, timeout: float = 1.0, expect: tuple[bytes, ...] = (b"CONNECTED",)) -> bool:
    """Whether a STOMP CONNECT on a raw socket is answered with CONNECTED (or another of ``expect``)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
            reply = b""
            while b"\x00" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                reply += chunk
            return reply.startswith(expect)
    except OSError:
        return False


class BrokerNode:
    """One ``python -m harness.broker`` process with its config and log file."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        store: Path,
        keep_alive: int,
        interval: int,
        persistent: bool = True,
        features: Features | None = None,
        render: Callable[[str, int, Path], str] | None = None,
    ) -> None:
        """``render(name, port, node_dir)``, when given, writes the whole activemq.xml (JDBC nodes)."""
        features = features or Features()
        self.name = name
        self.port = free_port()
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.config = self.dir / "activemq.xml"
        self.config.write_text(
            CONFIG.format(
                name=name,
                data=self.dir / "data",
                store=store,
                keep_alive=keep_alive,
                interval=interval,
                port=self.port,
                broker_attrs=features.broker_attributes,
                extra=features.xml,
                max_connections=features.maximum_connections,
                max_frame=features.max_frame_size,
            )
        )
        if not persistent:
            self.config.write_text(MEMORY_CONFIG.format(name=name, port=self.port))
        if render is not None:
            self.config.write_text(render(name, self.port, self.dir))
        self.log_path = self.dir / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def start(self) -> BrokerNode:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.broker", "--config", str(self.config)],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.stopped = False
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def count(self, text: str) -> int:
        return self.log().count(text)

    def wait_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> float:
        regex = re.compile(pattern)
        return wait_until(lambda: len(regex.findall(self.log())) >= count, timeout, f"{self.name} log: {pattern}")

    def accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def wait_master(self, timeout: float = 10.0) -> float:
        return self.wait_log(rf"Broker {self.name} is now master \(epoch \d+\)", timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def terminate(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def reap(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.stopped:
            self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait(timeout=10)


class Client:
    """A synchronous STOMP 1.2 client on stomp.py that waits for receipts and collects messages."""

    def __init__(self, port: int, connect: bool = True) -> None:
        self.conn = stomp.Connection12([("127.0.0.1", port)], reconnect_attempts_max=1)
        self.cond = threading.Condition()
        self.receipts: set[str] = set()
        self.messages: list[tuple[dict[str, str], str]] = []
        self.errors: list[dict[str, str]] = []
        self.disconnected = False
        self._n = 0
        self.conn.set_listener("", _Listener(self))
        if connect:
            self.conn.connect(wait=True)

    def _receipt_id(self) -> str:
        self._n += 1
        return f"r{self._n}"

    def wait_receipt(self, receipt: str, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: receipt in self.receipts, timeout)

    def send(self, destination: str, body: str, persistent: bool = True, timeout: float = 10.0, **headers: Any) -> bool:
        receipt = self._receipt_id()
        if persistent:
            headers["persistent"] = "true"
        self.conn.send(destination, body, headers={**headers, "receipt": receipt})
        return self.wait_receipt(receipt, timeout)

    def send_async(self, destination: str, body: str) -> str:
        receipt = self._receipt_id()
        self.conn.send(destination, body, headers={"persistent": "true", "receipt": receipt})
        return receipt

    def subscribe(self, destination: str, ack: str = "client-individual", sub_id: str = "s1", **headers: Any) -> None:
        receipt = self._receipt_id()
        self.conn.subscribe(destination, id=sub_id, ack=ack, headers={**headers, "receipt": receipt})
        assert self.wait_receipt(receipt, 10.0)

    def wait_messages(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], str]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def ack(self, headers: dict[str, str]) -> None:
        receipt = self._receipt_id()
        self.conn.ack(headers["ack"], receipt=receipt)
        assert self.wait_receipt(receipt, 10.0)

    def drain(self, destination: str, idle: float = 0.5, timeout: float = 20.0) -> list[str]:
        """Consume everything on a queue (acking each message with a receipt); returns the bodies."""
        self.subscribe(destination, ack="client-individual", sub_id="drain")
        deadline = time.monotonic() + timeout
        acked = 0
        while time.monotonic() < deadline:
            with self.cond:
                got_more = self.cond.wait_for(partial(_more_than, self.messages, acked), idle)
                pending = self.messages[acked:]
            if not got_more:
                break
            for headers, _body in pending:
                self.ack(headers)
            acked += len(pending)
        return [body for _headers, body in self.messages]

    def close(self) -> None:
        try:
            if self.conn.is_connected():
                self.conn.disconnect()
        except Exception:
            pass


def _more_than(messages: list[tuple[dict[str, str], str]], count: int) -> bool:
    return len(messages) > count


class _Listener(stomp.ConnectionListener):
    def __init__(self, client: Client) -> None:
        self.client = client

    def on_receipt(self, frame: Any) -> None:
        with self.client.cond:
            self.client.receipts.add(frame.headers["receipt-id"])
            self.client.cond.notify_all()

    def on_message(self, frame: Any) -> None:
        with self.client.cond:
            self.client.messages.append((dict(frame.headers), frame.body))
            self.client.cond.notify_all()

    def on_error(self, frame: Any) -> None:
        with self.client.cond:
            self.client.errors.append(dict(frame.headers))
            self.client.cond.notify_all()

    def on_disconnected(self) -> None:
        with self.client.cond:
            self.client.disconnected = True
            self.client.cond.notify_all()


class RawStomp:
    """A blocking STOMP connection on a plain socket, for tests that need exact frames or bad bytes."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.parser = FrameParser(V1_2)
        self.frames: list[Frame] = []
        self.eof = False

    def connect(self, **headers: str) -> Frame:
        self.send("CONNECT", {"accept-version": "1.2", "host": "localhost", **headers})
        return self.wait(lambda f: f.command in ("CONNECTED", "ERROR"))

    def send(self, command: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.raw(encode_frame(Frame(command, dict(headers or {}), body), V1_2))

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, deadline: float) -> bool:
        """Read once; False on timeout or EOF."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.eof:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.frames += self.parser.feed(data)
        return True

    def wait(self, match: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for frame in self.frames[seen:]:
                if match(frame):
                    return frame
            seen = len(self.frames)
            if not self._read(deadline):
                raise AssertionError(f"no matching frame within {timeout} s (eof={self.eof}); got {self.frames}")

    def receipt(self, receipt_id: str, timeout: float = 10.0) -> Frame:
        frame = self.wait(lambda f: f.headers.get("receipt-id") == receipt_id, timeout)
        assert frame.command == "RECEIPT", f"expected RECEIPT {receipt_id}, got {frame}"
        return frame

    def messages(self) -> list[Frame]:
        return [f for f in self.frames if f.command == "MESSAGE"]

    def collect(self, seconds: float) -> list[Frame]:
        """Everything that arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        while self._read(deadline):
            pass
        return self.frames

    def wait_closed(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._read(deadline)
        return self.eof

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class ActiveMQNode:
    """Real ActiveMQ Classic (harness.vendors.activemq) on the same activemq.xml as a BrokerNode."""

    def __init__(self, workdir: Path, xml: str, port: int) -> None:
        vendor = ActiveMQ()
        try:
            vendor.check_installed()
        except VendorUnavailable as exc:
            pytest.skip(str(exc))
        self.dir = workdir
        self.port = port
        self.spec = vendor.prepare(workdir, xml)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ActiveMQNode:
        with open(self.dir / "activemq.log", "ab") as log:
            self.proc = subprocess.Popen(
                self.spec.argv,
                cwd=self.spec.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.spec.env},
            )
        answers = (b"CONNECTED", b"ERROR")  # ERROR: it is up, and wants credentials
        wait_until(
            lambda: stomp_connects(self.port, expect=answers) or self.proc is None or self.proc.poll() is not None,
            timeout,
            "ActiveMQ to accept STOMP",
            step=0.2,
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"ActiveMQ exited: {(self.dir / 'activemq.log').read_text()[-3000:]}")
        return self

    def reap(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
