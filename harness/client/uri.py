"""Parse ActiveMQ failover URIs into endpoints and options.

Accepted forms (as ActiveMQ Classic reads them):

* ``failover:(tcp://h1:61613,tcp://h2:61613)?randomize=false&maxReconnectAttempts=3``
* ``failover:tcp://h1:61613,tcp://h2:61613`` (no parentheses, hence no failover options: as in
  ActiveMQ, a trailing ``?query`` belongs to the last inner URI)
* ``tcp://h:61613`` or ``stomp://h:61613``: one broker, no reconnect (ActiveMQ without ``failover:``).

Inner URIs keep their own query (plus the failover URI's ``nested.*`` options) in
:attr:`Endpoint.query`; the STOMP transport ignores it.

Options that are parsed, validated and kept, but change nothing in this STOMP client:
``backup`` / ``backupPoolSize`` (no pre-opened standby connections), ``trackMessages`` /
``maxCacheSize`` (every send waits for a RECEIPT, so every unconfirmed send is resent anyway),
``trackTransactionProducers``, ``updateURIsSupported``, ``updateURIsURL``, ``rebalanceUpdateURIs``
and ``reconnectSupported`` (these react to OpenWire ConnectionControl commands, which STOMP lacks).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from harness.client.errors import FailoverUriError

DEFAULT_STOMP_PORT = 61613
# Schemes a STOMP client can dial; ActiveMQ clients write tcp://, broker configs stomp:// or stomp+nio://.
TRANSPORT_SCHEMES = ("tcp", "stomp", "nio", "stomp+nio")
FAILOVER_SCHEME = "failover"


@dataclass(frozen=True)
class Endpoint:
    """One broker address. Equality and hashing use host and port only."""

    host: str
    port: int
    scheme: str = field(default="tcp", compare=False)
    query: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class FailoverOptions:
    """ActiveMQ FailoverTransport options, ActiveMQ's defaults. Delays and timeouts are in ms."""

    initial_reconnect_delay_ms: int = 10
    max_reconnect_delay_ms: int = 30_000
    use_exponential_backoff: bool = True
    reconnect_delay_exponent: float = 2.0
    max_reconnect_attempts: int = -1
    startup_max_reconnect_attempts: int = -1
    randomize: bool = True
    timeout_ms: int = -1
    priority_backup: bool = False
    # Empty means "the first URI", as in ActiveMQ.
    priority_uris: tuple[Endpoint, ...] = ()
    warn_after_reconnect_attempts: int = 10
    # Parsed, without effect on a STOMP client (see the module docstring).
    backup: bool = False
    backup_pool_size: int = 1
    track_messages: bool = False
    max_cache_size: int = 131_072
    track_transaction_producers: bool = True
    update_uris_supported: bool = True
    update_uris_url: str | None = None
    rebalance_update_uris: bool = True
    reconnect_supported: bool = True
    # nested.* options, appended to every inner URI's query.
    nested: tuple[tuple[str, str], ...] = ()


# Option names that parse but do nothing here; kept so callers can warn about them.
NO_EFFECT_OPTIONS = frozenset(
    {
        "backup",
        "backupPoolSize",
        "trackMessages",
        "maxCacheSize",
        "trackTransactionProducers",
        "updateURIsSupported",
        "updateURIsURL",
        "rebalanceUpdateURIs",
        "reconnectSupported",
    }
)


@dataclass(frozen=True)
class FailoverUri:
    """A parsed URI: the brokers in the order written, and the failover options."""

    endpoints: tuple[Endpoint, ...]
    options: FailoverOptions
    failover: bool = True
    text: str = ""

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [e.address for e in self.endpoints]


def _parse_int(minimum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        text = raw.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isdigit():
            raise FailoverUriError(f"failover URI option {name!r}: {raw!r} is not an integer")
        value = int(text)
        if value < minimum:
            raise FailoverUriError(f"failover URI option {name!r}: {value} is below the minimum {minimum}")
        return value

    return parse


def _parse_exponent(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise FailoverUriError(f"failover URI option {name!r}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise FailoverUriError(f"failover URI option {name!r}: {raw!r} must be a positive number")
    return value


def _parse_bool(name: str, raw: str) -> bool:
    # Stricter than Java's Boolean.parseBoolean, which silently reads any typo as false.
    lowered = raw.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise FailoverUriError(f"failover URI option {name!r}: {raw!r} is not a boolean (true or false)")


def _parse_text(name: str, raw: str) -> str:
    return raw


def _parse_priority_uris(name: str, raw: str) -> tuple[Endpoint, ...]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise FailoverUriError(f"failover URI option {name!r}: empty list")
    return tuple(_parse_transport_uri(p) for p in parts)


# URI option name -> (FailoverOptions field, parser).
_OPTIONS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "initialReconnectDelay": ("initial_reconnect_delay_ms", _parse_int(0)),
    "maxReconnectDelay": ("max_reconnect_delay_ms", _parse_int(0)),
    "useExponentialBackOff": ("use_exponential_backoff", _parse_bool),
    "reconnectDelayExponent": ("reconnect_delay_exponent", _parse_exponent),
    "maxReconnectAttempts": ("max_reconnect_attempts", _parse_int(-1)),
    "startupMaxReconnectAttempts": ("startup_max_reconnect_attempts", _parse_int(-1)),
    "randomize": ("randomize", _parse_bool),
    "timeout": ("timeout_ms", _parse_int(-1)),
    "priorityBackup": ("priority_backup", _parse_bool),
    "priorityURIs": ("priority_uris", _parse_priority_uris),
    # <= 0 disables the warning, as in ActiveMQ.
    "warnAfterReconnectAttempts": ("warn_after_reconnect_attempts", _parse_int(-(2**31))),
    "backup": ("backup", _parse_bool),
    "backupPoolSize": ("backup_pool_size", _parse_int(0)),
    "trackMessages": ("track_messages", _parse_bool),
    "maxCacheSize": ("max_cache_size", _parse_int(0)),
    "trackTransactionProducers": ("track_transaction_producers", _parse_bool),
    "updateURIsSupported": ("update_uris_supported", _parse_bool),
    "updateURIsURL": ("update_uris_url", _parse_text),
    "rebalanceUpdateURIs": ("rebalance_update_uris", _parse_bool),
    "reconnectSupported": ("reconnect_supported", _parse_bool),
}
KNOWN_OPTIONS = frozenset(_OPTIONS)
NESTED_PREFIX = "nested."


def parse_options(query: str) -> FailoverOptions:
    """Parse the query of a failover URI (without the leading ``?``)."""
    values: dict[str, Any] = {}
    nested: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, raw in parse_qsl(query, keep_blank_values=True):
        if name in seen:
            raise FailoverUriError(f"failover URI option {name!r} is given twice")
        seen.add(name)
        if name.startswith(NESTED_PREFIX) and len(name) > len(NESTED_PREFIX):
            nested.append((name[len(NESTED_PREFIX) :], raw))
            continue
        if name not in _OPTIONS:
            raise FailoverUriError(_unknown_option_message(name))
        attr, parse = _OPTIONS[name]
        values[attr] = parse(name, raw)
    values["nested"] = tuple(nested)
    return FailoverOptions(**values)


def _unknown_option_message(name: str) -> str:
    close = difflib.get_close_matches(name, list(_OPTIONS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = ", ".join(sorted(_OPTIONS)) + ", nested.*"
    return f"failover URI option {name!r} is not known{hint} (known: {known})"


def _parse_transport_uri(text: str) -> Endpoint:
    """Parse one inner URI such as ``tcp://host:61613?x=y``."""
    raw = text.strip()
    if "://" not in raw:
        raise FailoverUriError(f"broker URI {raw!r} has no scheme: write tcp://host:port")
    split = urlsplit(raw)
    scheme = split.scheme.lower()
    if scheme not in TRANSPORT_SCHEMES:
        detail = " (TLS is not supported by this client)" if "ssl" in scheme else ""
        raise FailoverUriError(
            f"broker URI {raw!r}: scheme {scheme!r} is not supported{detail}; use one of {', '.join(TRANSPORT_SCHEMES)}"
        )
    try:
        host = split.hostname
        port = split.port
    except ValueError as exc:
        raise FailoverUriError(f"broker URI {raw!r}: {exc}") from None
    if not host:
        raise FailoverUriError(f"broker URI {raw!r} has no host")
    if split.path not in ("", "/"):
        raise FailoverUriError(f"broker URI {raw!r}: unexpected path {split.path!r}")
    query = tuple(parse_qsl(split.query, keep_blank_values=True))
    return Endpoint(host, port if port is not None else DEFAULT_STOMP_PORT, scheme, query)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses (ActiveMQ allows nested composite URIs)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _closing_paren(text: str) -> int:
    depth = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    raise FailoverUriError(f"failover URI {text!r}: unbalanced parentheses")


def parse_failover_uri(uri: str) -> FailoverUri:
    """Parse a failover URI or a single broker URI.

    Raises FailoverUriError with a message naming the bad part.
    """
    text = uri.strip()
    scheme, sep, rest = text.partition(":")
    if not sep:
        raise FailoverUriError(f"URI {uri!r} has no scheme: write failover:(tcp://host:port,...)")
    if scheme.lower() != FAILOVER_SCHEME:
        endpoint = _parse_transport_uri(text)
        # A plain broker URI never reconnects (ActiveMQ without failover:).
        options = FailoverOptions(max_reconnect_attempts=0, startup_max_reconnect_attempts=0)
        return FailoverUri((endpoint,), options, failover=False, text=text)

    rest = rest.strip()
    rest = rest.removeprefix("//")
    if rest.startswith("("):
        end = _closing_paren(rest)
        inner = rest[1:end]
        tail = rest[end + 1 :].strip()
        if tail and not tail.startswith("?"):
            raise FailoverUriError(f"failover URI {uri!r}: unexpected {tail!r} after the closing parenthesis")
        options = parse_options(tail[1:]) if tail else FailoverOptions()
    else:
        inner = rest
        options = FailoverOptions()

    parts = _split_top_level(inner)
    if not any(parts):
        raise FailoverUriError(f"failover URI {uri!r} names no broker")
    if any(not p for p in parts):
        raise FailoverUriError(f"failover URI {uri!r} has an empty broker entry")
    endpoints = tuple(_parse_transport_uri(p) for p in parts)

    if not rest.startswith("("):
        misplaced = [k for k, _ in endpoints[-1].query if k in _OPTIONS]
        if misplaced:
            last, _, query = parts[-1].partition("?")
            suggestion = f"failover:({','.join([*parts[:-1], last])})?{query}"
            raise FailoverUriError(
                f"failover URI {uri!r}: without parentheses the query belongs to the last broker URI, "
                f"so failover option(s) {', '.join(misplaced)} would not apply; write {suggestion}"
            )

    unknown_priority = [str(p) for p in options.priority_uris if p not in endpoints]
    if unknown_priority:
        raise FailoverUriError(
            f"failover URI {uri!r}: priorityURIs {', '.join(unknown_priority)} not among the brokers "
            f"{', '.join(str(e) for e in endpoints)}"
        )

    if options.nested:
        endpoints = tuple(replace(e, query=e.query + options.nested) for e in endpoints)
    return FailoverUri(endpoints, options, failover=True, text=text)
