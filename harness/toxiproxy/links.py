"""The harness's layer over toxiproxy-python: named link proxies on one Toxiproxy server.

A topology asks for a proxied link by creating a named proxy for an upstream address and giving the
returned listen address to whatever must cross the link:

    link = cluster.link_proxies.create("amq1->amq3", upstream=("10.0.0.3", 61616), listen_host=host)
    bridge_uri = f"tcp://{link.listen_host}:{link.listen_port}"

Faults then act on the link by its name (``faults.cut_link("amq1->amq3")``): each is a toxic or an
``enabled: false`` on that proxy. The server is the project's own (``python -m harness.toxiproxy``,
started once per run) or a user's real Toxiproxy (``--toxiproxy URL`` / ``AMQ_HARNESS_TOXIPROXY``);
both are driven the same way, through the unmodified toxiproxy-python client.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.proxy import Proxy

from harness.runtime.run import register_process
from harness.toxiproxy.toxics import TOXIC_ATTRIBUTES

if TYPE_CHECKING:
    from harness.toxiproxy.container import ToxiproxyContainer

log = logging.getLogger("harness.toxiproxy")

ENVIRONMENT_VARIABLE = "AMQ_HARNESS_TOXIPROXY"

# toxiproxy-python keeps the server's address in class attributes of APIConsumer; every call made
# through this module sets them first, under this lock, so that two servers never get mixed up.
_CLIENT_LOCK = threading.RLock()


class LinkProxyError(RuntimeError):
    """The Toxiproxy server refused a request or cannot be reached; the message says which and why."""


@dataclass(frozen=True)
class ProxiedLink:
    """One named proxy: where to connect instead of ``upstream``, and the faults' handle on it."""

    proxies: LinkProxies = field(repr=False, compare=False)
    name: str
    listen_host: str
    listen_port: int
    upstream: str
    label: str = ""  # what faults and logs call it ("amq1->postgresql"); the proxy's name by default

    def __str__(self) -> str:
        return self.label or self.name

    @property
    def listen(self) -> str:
        return f"{self.listen_host}:{self.listen_port}"

    def set_enabled(self, enabled: bool) -> None:
        self.proxies.set_enabled(self.name, enabled)

    def add_toxic(
        self, toxic_type: str, attributes: dict[str, int], stream: str = "downstream", toxic_name: str | None = None
    ) -> str:
        return self.proxies.add_toxic(self.name, toxic_type, attributes, stream, toxic_name=toxic_name)

    def remove_toxic(self, toxic_name: str) -> None:
        self.proxies.remove_toxic(self.name, toxic_name)

    def upstream_ports(self) -> set[int]:
        return self.proxies.upstream_ports(self.name)

    def repoint(self, upstream: tuple[str, int] | str) -> None:
        self.proxies.repoint(self.name, upstream)

    def seconds_until_closed(self, ports: set[int], timeout: float, interval: float = 0.1) -> float | None:
        """Seconds until one of the connections ``ports`` (from upstream_ports()) is gone: an end of the
        link closed it, as a broker does once it notices a hung link. None if all outlive ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if ports - self.upstream_ports():
                return time.monotonic() - started
            time.sleep(interval)
        return None


class LinkProxies:
    """Proxies on the Toxiproxy server at ``url``, created, broken and healed by name."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname or not parts.port:
            raise LinkProxyError(f"toxiproxy: {url!r} is not an address of the form http://HOST:PORT")
        self.url = f"http://{parts.hostname}:{parts.port}"
        self.host, self.port = parts.hostname, parts.port
        self._client = Toxiproxy()
        self._created: dict[str, ProxiedLink] = {}

    def __repr__(self) -> str:
        return f"<LinkProxies {self.url}: {len(self._created)} proxies>"

    @contextmanager
    def _api(self, doing: str) -> Iterator[Toxiproxy]:
        with _CLIENT_LOCK:
            self._client.update_api_consumer(self.host, self.port)
            try:
                yield self._client
            except requests.RequestException as exc:
                raise LinkProxyError(f"toxiproxy at {self.url} unreachable while {doing}: {exc}") from exc
            except (KeyError, ValueError) as exc:
                raise LinkProxyError(f"toxiproxy at {self.url}: unexpected answer while {doing}: {exc}") from exc
            except Exception as exc:
                if type(exc).__module__.startswith("toxiproxy"):  # ProxyExists, NotFound, InvalidToxic
                    body = exc.args[0] if exc.args else b""
                    text = body.decode(errors="replace").strip() if isinstance(body, bytes) else str(body)
                    raise LinkProxyError(f"toxiproxy at {self.url} refused {doing}: {text}") from exc
                raise

    def version(self) -> str:
        with self._api("asking its version") as client:
            answer = client.version()
        if answer is None:
            raise LinkProxyError(f"toxiproxy at {self.url} does not answer")
        return answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)

    # -- proxies ----------------------------------------------------------------------------
    def create(
        self, name: str, upstream: tuple[str, int] | str, listen_host: str = "127.0.0.1", label: str = ""
    ) -> ProxiedLink:
        """A new proxy on a free port of ``listen_host`` relaying to ``upstream``; a stale one of that name goes."""
        target = upstream if isinstance(upstream, str) else f"{upstream[0]}:{upstream[1]}"
        with self._api(f"creating proxy {name}") as client:
            if client.get_proxy(name) is not None:
                client.get_proxy(name).destroy()  # left by a run that was killed
            proxy = client.create(upstream=target, name=name, listen=f"{listen_host}:0")
        host, _, port = proxy.listen.rpartition(":")
        link = ProxiedLink(self, name, host, int(port), target, label or name)
        self._created[name] = link
        log.info("link proxy %s: %s -> %s", name, link.listen, target)
        return link

    def _proxy(self, name: str) -> Proxy:
        proxy = self._client.get_proxy(name)
        if proxy is None:
            raise LinkProxyError(f"toxiproxy at {self.url}: no proxy named {name!r}")
        return proxy

    def remove(self, name: str) -> None:
        with self._api(f"removing proxy {name}") as client:
            proxy = client.get_proxy(name)
            if proxy is not None:
                proxy.destroy()
        self._created.pop(name, None)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """``enabled: false`` is Toxiproxy's "down": every connection closed, new ones refused."""
        with self._api(f"{'enabling' if enabled else 'disabling'} proxy {name}"):
            proxy = self._proxy(name)
            if enabled:
                proxy.enable()
            else:
                proxy.disable()

    def repoint(self, name: str, upstream: tuple[str, int] | str) -> None:
        """Send the proxy's new connections to another upstream (a database container with a new address)."""
        target = upstream if isinstance(upstream, str) else f"{upstream[0]}:{upstream[1]}"
        with self._api(f"repointing proxy {name}"):
            proxy = self._proxy(name)
            if proxy.upstream != target:
                APIConsumer.post(f"/proxies/{name}", json={"upstream": target})

    # -- toxics -----------------------------------------------------------------------------
    def add_toxic(
        self,
        name: str,
        toxic_type: str,
        attributes: dict[str, int],
        stream: str = "downstream",
        toxicity: float = 1.0,
        toxic_name: str | None = None,
    ) -> str:
        """Add a toxic to proxy ``name``; returns the toxic's name (to remove it)."""
        if toxic_type not in TOXIC_ATTRIBUTES:
            raise LinkProxyError(f"unknown toxic {toxic_type!r}; Toxiproxy's toxics are {', '.join(TOXIC_ATTRIBUTES)}")
        unknown = set(attributes) - set(TOXIC_ATTRIBUTES[toxic_type])
        if unknown:
            raise LinkProxyError(
                f"toxic {toxic_type} has no attribute {', '.join(sorted(unknown))} "
                f"(its attributes: {', '.join(TOXIC_ATTRIBUTES[toxic_type])})"
            )
        chosen = toxic_name or f"{toxic_type}_{stream}"
        with self._api(f"adding a {toxic_type} toxic to proxy {name}"):
            self._proxy(name).add_toxic(
                type=toxic_type, name=chosen, stream=stream, toxicity=toxicity, attributes=attributes
            )
        return chosen

    def remove_toxic(self, name: str, toxic_name: str) -> None:
        with self._api(f"removing toxic {toxic_name} from proxy {name}"):
            self._proxy(name).destroy_toxic(toxic_name)

    def toxics(self, name: str) -> dict[str, dict[str, Any]]:
        with self._api(f"listing the toxics of proxy {name}"):
            return {
                t.name: {"type": t.type, "stream": t.stream, "toxicity": t.toxicity, "attributes": t.attributes}
                for t in self._proxy(name).toxics().values()
            }

    # -- this project's server only ---------------------------------------------------------
    def upstream_ports(self, name: str) -> set[int]:
        """Local ports of the proxy's live connections to its upstream (how a database tells its sessions apart).

        Only the built-in server lists connections; a real Toxiproxy has no such endpoint.
        """
        try:
            answer = requests.get(f"{self.url}/proxies/{name}/connections", timeout=10)
        except requests.RequestException as exc:
            raise LinkProxyError(f"toxiproxy at {self.url} unreachable: {exc}") from exc
        if answer.status_code != 200 or not answer.headers.get("Content-Type", "").startswith("application/json"):
            raise LinkProxyError(
                f"toxiproxy at {self.url} does not list the connections of proxy {name} (HTTP {answer.status_code}): "
                "only the harness's built-in server can tell one broker's database sessions from another's"
            )
        return {int(c["upstream_local"].rpartition(":")[2]) for c in answer.json()}

    def close(self) -> None:
        """Remove every proxy this object created (the server itself lives on)."""
        for name in list(self._created):
            try:
                self.remove(name)
            except LinkProxyError as exc:
                log.warning("link proxy %s not removed: %s", name, exc)


class BuiltinToxiproxy:
    """The project's own server as a child process on a free port of ``host``."""

    def __init__(self, host: str = "127.0.0.1", start_timeout_s: float = 20.0) -> None:
        self.host = host
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.toxiproxy", "--host", host, "--port", "0"],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _source_root()},
        )
        register_process(self.process.pid, "toxiproxy server")  # reaped by the watchdog if the run dies
        assert self.process.stdout is not None
        deadline = time.monotonic() + start_timeout_s
        line = b""
        while time.monotonic() < deadline and not line:
            line = self.process.stdout.readline()
            if self.process.poll() is not None:
                break
        if not line.startswith(b"listening "):
            self.close()
            raise LinkProxyError(f"the built-in toxiproxy did not start (it said {line!r})")
        self.url = "http://" + line.split()[1].decode()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> BuiltinToxiproxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _source_root() -> str:
    import harness

    root = str(Path(harness.__file__).resolve().parent.parent)
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


@contextmanager
def toxiproxy_for_run(url: str | None = None, container_image: str | None = None) -> Iterator[LinkProxies]:
    """The run's Toxiproxy: the user's server at ``url`` (or $AMQ_HARNESS_TOXIPROXY), else the built-in
    one, as a child process or, with ``container_image`` (the docker runtime), in a container of that
    image. On exit the proxies made through it are removed and a built-in server stops."""
    url = url or os.environ.get(ENVIRONMENT_VARIABLE) or None
    server: BuiltinToxiproxy | ToxiproxyContainer | None = None
    if url is None:
        if container_image is not None:
            from harness.toxiproxy.container import ToxiproxyContainer

            server = ToxiproxyContainer(container_image)
        else:
            server = BuiltinToxiproxy()
    proxies = LinkProxies(url or (server.url if server else ""))
    try:
        proxies.version()  # fail now, with the address, if nothing answers there
        yield proxies
    finally:
        try:
            proxies.close()
        finally:
            if server is not None:
                server.close()
