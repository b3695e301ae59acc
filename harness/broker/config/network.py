"""``<networkConnectors>`` and the inter-broker listener of activemq.xml -> ``NetworkConfig``.

The same elements and attributes as ActiveMQ, with ActiveMQ's defaults (activemq-broker 5.17:
NetworkBridgeConfiguration, DiscoveryNetworkConnector, SimpleDiscoveryAgent, MulticastDiscoveryAgent),
except decreaseNetworkConsumerPriority, whose default follows the 5.17 release the harness runs
against (false; it became true in 5.18). Anything else on a connector is refused by name.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

Discovery = Literal["static", "masterslave", "multicast"]

DEFAULT_CONNECTOR_NAME = "NC"
DEFAULT_NETWORK_TTL = 1
DEFAULT_PREFETCH_SIZE = 1000
# SimpleDiscoveryAgent (static: and masterslave:): wait 1 s, doubling up to 30 s while attempts fail
# within minConnectTime (5 s) of starting; maxReconnectAttempts 0 retries for ever.
DEFAULT_INITIAL_RECONNECT_DELAY_MS = 1000
DEFAULT_MAX_RECONNECT_DELAY_MS = 30_000
DEFAULT_BACK_OFF_MULTIPLIER = 2
DEFAULT_MIN_CONNECT_TIME_MS = 5000
DEFAULT_MAX_RECONNECT_ATTEMPTS = 0
# MulticastDiscoveryAgent: multicast://default is this group address; a heartbeat every 500 ms, a
# peer is dead after 10 missed ones.
DEFAULT_MULTICAST_HOST = "239.255.2.3"
DEFAULT_MULTICAST_PORT = 6155
DEFAULT_MULTICAST_GROUP = "default"
DEFAULT_MULTICAST_HEARTBEAT_MS = 500
DEFAULT_MULTICAST_MISSED_HEARTBEATS = 10
# MulticastDiscoveryAgent's re-dial of a discovered broker whose bridge failed: its advertisements are
# ignored for 5 s (no exponential back-off unless asked; then multiplier ** failures ms, up to 30 s).
DEFAULT_MULTICAST_RECONNECT_DELAY_MS = 5000

CONNECTOR_ATTRIBUTES = frozenset(
    {
        "uri",
        "name",
        "duplex",
        "networkTTL",
        "conduitSubscriptions",
        "dynamicOnly",
        "decreaseNetworkConsumerPriority",
        "prefetchSize",
    }
)
DESTINATION_LISTS = ("excludedDestinations", "dynamicallyIncludedDestinations", "staticallyIncludedDestinations")
# SimpleDiscoveryAgent's settable properties; masterslave: (MasterSlaveDiscoveryAgent) takes the same.
_RECONNECT_OPTIONS = frozenset(
    {
        "initialReconnectDelay",
        "maxReconnectDelay",
        "useExponentialBackOff",
        "backOffMultiplier",
        "minConnectTime",
        "maxReconnectAttempts",
    }
)
# MulticastDiscoveryAgent's settable re-dial properties, besides group (no minConnectTime there).
_REDIAL_OPTIONS = frozenset(
    {"initialReconnectDelay", "maxReconnectDelay", "useExponentialBackOff", "backOffMultiplier", "maxReconnectAttempts"}
)
_MULTICAST_OPTIONS = frozenset({"group"}) | _REDIAL_OPTIONS


class NetworkConfigError(ValueError):
    """A network setting pybroker cannot use; the message names the element and the attribute."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True)
class Reconnect:
    """A static: or masterslave: connector's reconnect settings (the schedule: network/reconnect.py)."""

    initial_delay_ms: int = DEFAULT_INITIAL_RECONNECT_DELAY_MS
    max_delay_ms: int = DEFAULT_MAX_RECONNECT_DELAY_MS
    exponential: bool = True
    # A long in ActiveMQ: the delay grows by whole multiples.
    multiplier: int = DEFAULT_BACK_OFF_MULTIPLIER
    # An attempt whose bridge fails sooner than this after the attempt began is a connection failure
    # (backed off); a later failure starts over from initial_delay_ms.
    min_connect_time_ms: int = DEFAULT_MIN_CONNECT_TIME_MS
    # Give up after this many connection failures in a row; 0 (or less) never gives up.
    max_attempts: int = DEFAULT_MAX_RECONNECT_ATTEMPTS


@dataclass(frozen=True)
class Redial:
    """A multicast connector's re-dial settings, MulticastDiscoveryAgent's (the schedule:
    network/rediscovery.py). Unlike the static: agent's, exponential back-off is off by default."""

    initial_delay_ms: int = DEFAULT_MULTICAST_RECONNECT_DELAY_MS
    max_delay_ms: int = DEFAULT_MAX_RECONNECT_DELAY_MS
    exponential: bool = False
    multiplier: int = DEFAULT_BACK_OFF_MULTIPLIER
    # Stop re-dialling once the failures exceed this many; 0 (or less) never stops.
    max_attempts: int = DEFAULT_MAX_RECONNECT_ATTEMPTS


@dataclass(frozen=True)
class MulticastGroup:
    host: str = DEFAULT_MULTICAST_HOST
    port: int = DEFAULT_MULTICAST_PORT
    group: str = DEFAULT_MULTICAST_GROUP
    heartbeat_ms: int = DEFAULT_MULTICAST_HEARTBEAT_MS
    missed_heartbeats: int = DEFAULT_MULTICAST_MISSED_HEARTBEATS
    redial: Redial = Redial()  # a connector's (ActiveMQ reads them on a transport's discoveryUri too, unused)


@dataclass(frozen=True)
class NetworkConnectorConfig:
    """One ``<networkConnector>``."""

    discovery: Discovery
    # static: every target; masterslave: the pair, in failover order (no randomizing); multicast: none
    targets: tuple[Endpoint, ...] = ()
    multicast: MulticastGroup | None = None
    name: str = DEFAULT_CONNECTOR_NAME
    duplex: bool = False
    network_ttl: int = DEFAULT_NETWORK_TTL
    conduit_subscriptions: bool = True
    dynamic_only: bool = False
    decrease_network_consumer_priority: bool = False
    prefetch_size: int = DEFAULT_PREFETCH_SIZE
    # Queue names or ActiveMQ wildcards, physical names (no /queue/ prefix).
    excluded: tuple[str, ...] = ()
    dynamically_included: tuple[str, ...] = ()
    statically_included: tuple[str, ...] = ()
    reconnect: Reconnect = Reconnect()


@dataclass(frozen=True)
class NetworkConfig:
    """The inter-broker side of a broker: where it accepts bridges, what it advertises, its connectors."""

    listen: Endpoint | None = None
    listener_name: str = "openwire"
    advertise: MulticastGroup | None = None  # the listener's discoveryUri
    connectors: tuple[NetworkConnectorConfig, ...] = ()

    @property
    def advertised_endpoint(self) -> Endpoint | None:
        """Where peers reach the listener: a wildcard bind is published under the host name, like
        ActiveMQ's default published address."""
        if self.listen is None:
            return None
        host = self.listen.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return Endpoint(host, self.listen.port)


def parse_endpoint(uri: str, where: str) -> Endpoint:
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError as exc:
        raise NetworkConfigError(f"{where}: {uri!r} is not a valid URI: {exc}") from None
    if parts.scheme.lower() not in ("tcp", "nio"):
        raise NetworkConfigError(
            f"{where}: {uri!r}: scheme {parts.scheme or '(none)'!r} is not supported by pybroker yet (supported: tcp)"
        )
    if not parts.hostname or port is None:
        raise NetworkConfigError(f"{where}: {uri!r} needs a host and a port")
    if parts.query or parts.path not in ("", "/"):
        raise NetworkConfigError(f"{where}: {uri!r}: options on a bridge target are not supported by pybroker yet")
    return Endpoint(parts.hostname, port)


def _split_composite(uri: str, scheme: str, where: str) -> tuple[list[str], str]:
    """``scheme:(a,b)?opts`` or ``scheme:a`` -> ([a, b], opts)."""
    rest = uri[len(scheme) + 1 :].strip()
    query = ""
    if rest.startswith("("):
        close = rest.find(")")
        if close < 0:
            raise NetworkConfigError(f"{where}: {uri!r} has no closing parenthesis")
        inner, tail = rest[1:close], rest[close + 1 :]
        if tail and not tail.startswith("?"):
            raise NetworkConfigError(f"{where}: {uri!r}: unexpected {tail!r} after the parenthesis")
        query = tail[1:]
    else:
        inner = rest
    members = [m for m in (s.strip() for s in inner.split(",")) if m]
    if not members:
        raise NetworkConfigError(f"{where}: {uri!r} names no broker")
    return members, query


def _options(query: str, allowed: frozenset[str], where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise NetworkConfigError(f"{where}: option {key!r} is not supported by pybroker yet")
        options[key] = value
    return options


def _integer(options: dict[str, str], key: str, default: int, minimum: int | None, where: str, why: str) -> int:
    if key not in options:
        return default
    try:
        value = int(options[key])
    except ValueError:
        raise NetworkConfigError(f"{where}: option {key}={options[key]!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise NetworkConfigError(f"{where}: option {key}={options[key]!r} must be >= {minimum} ({why})")
    return value


def _boolean(options: dict[str, str], key: str, default: bool, where: str) -> bool:
    value = options.get(key, str(default)).lower()
    if value not in ("true", "false"):
        raise NetworkConfigError(f"{where}: option {key}={value!r} is not a boolean")
    return value == "true"


def parse_reconnect(options: dict[str, str], where: str) -> Reconnect:
    """The discovery agent's options. ActiveMQ sets them by reflection and silently ignores a value
    it cannot convert (``backOffMultiplier=1.5`` leaves 2); pybroker refuses it instead, and refuses the
    values with which ActiveMQ's agent would never reconnect again (a delay or multiplier of 0 makes its
    ``Object.wait(0)`` wait for ever; a negative one throws in the reconnect thread)."""

    def integer(key: str, default: int, minimum: int | None) -> int:
        return _integer(options, key, default, minimum, where, "ActiveMQ would never reconnect")

    return Reconnect(
        initial_delay_ms=integer("initialReconnectDelay", DEFAULT_INITIAL_RECONNECT_DELAY_MS, 1),
        max_delay_ms=integer("maxReconnectDelay", DEFAULT_MAX_RECONNECT_DELAY_MS, 1),
        exponential=_boolean(options, "useExponentialBackOff", True, where),
        multiplier=integer("backOffMultiplier", DEFAULT_BACK_OFF_MULTIPLIER, 1),
        min_connect_time_ms=integer("minConnectTime", DEFAULT_MIN_CONNECT_TIME_MS, None),
        max_attempts=integer("maxReconnectAttempts", DEFAULT_MAX_RECONNECT_ATTEMPTS, None),
    )


def parse_redial(options: dict[str, str], where: str) -> Redial:
    """MulticastDiscoveryAgent's re-dial options, refused like parse_reconnect's when not whole. A
    negative delay or multiplier is refused too: ActiveMQ takes it, but only to re-dial at the next
    advertisement, which 0 says plainly."""

    def integer(key: str, default: int) -> int:
        return _integer(options, key, default, 0, where, "a negative wait re-dials at the next advertisement: use 0")

    default = Redial()
    return Redial(
        initial_delay_ms=integer("initialReconnectDelay", default.initial_delay_ms),
        max_delay_ms=integer("maxReconnectDelay", default.max_delay_ms),
        exponential=_boolean(options, "useExponentialBackOff", default.exponential, where),
        multiplier=integer("backOffMultiplier", default.multiplier),
        max_attempts=_integer(options, "maxReconnectAttempts", default.max_attempts, None, where, ""),
    )


def parse_multicast(uri: str, where: str) -> MulticastGroup:
    """``multicast://default`` or ``multicast://host:port``, with ``?group=name`` and the re-dial options."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError as exc:
        raise NetworkConfigError(f"{where}: {uri!r} is not a valid URI: {exc}") from None
    if parts.scheme.lower() != "multicast":
        raise NetworkConfigError(f"{where}: {uri!r}: only multicast:// discovery is supported by pybroker")
    options = _options(parts.query, _MULTICAST_OPTIONS, where)
    group = options.get("group", DEFAULT_MULTICAST_GROUP)
    redial = parse_redial(options, where)
    if parts.hostname in (None, "default"):
        return MulticastGroup(group=group, redial=redial)
    return MulticastGroup(host=parts.hostname, port=port or DEFAULT_MULTICAST_PORT, group=group, redial=redial)


def parse_connector_uri(
    uri: str, where: str
) -> tuple[Discovery, tuple[Endpoint, ...], MulticastGroup | None, Reconnect]:
    """The uri attribute of a ``<networkConnector>``."""
    text = uri.strip()
    lowered = text.lower()
    if lowered.startswith("static:"):
        if "failover:" in lowered:
            raise NetworkConfigError(
                f"{where}: {uri!r}: failover: inside static: is not supported by pybroker yet (use masterslave:)"
            )
        members, query = _split_composite(text, "static", where)
        reconnect = parse_reconnect(_options(query, _RECONNECT_OPTIONS, where), where)
        return "static", tuple(parse_endpoint(m, where) for m in members), None, reconnect
    if lowered.startswith("masterslave:"):
        members, query = _split_composite(text, "masterslave", where)
        if len(members) < 2:
            raise NetworkConfigError(f"{where}: {uri!r}: masterslave: needs the brokers of a master/slave pair")
        reconnect = parse_reconnect(_options(query, _RECONNECT_OPTIONS, where), where)
        return "masterslave", tuple(parse_endpoint(m, where) for m in members), None, reconnect
    if lowered.startswith("multicast:"):
        return "multicast", (), parse_multicast(text, where), Reconnect()
    raise NetworkConfigError(
        f"{where}: uri {uri!r} is not supported by pybroker yet (supported: static:(...), masterslave:(...), "
        "multicast://...)"
    )
