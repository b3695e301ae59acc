"""Parsing of ActiveMQ failover URIs: forms, defaults, every option, errors."""

from __future__ import annotations

import pytest

from harness.client import Endpoint, FailoverOptions, FailoverUriError, parse_failover_uri
from harness.client.uri import KNOWN_OPTIONS, NO_EFFECT_OPTIONS


def test_parenthesised_failover_uri_gives_endpoints_in_order_and_options() -> None:
    uri = parse_failover_uri("failover:(tcp://h1:61613,tcp://h2:61614)?randomize=false&maxReconnectAttempts=3")
    assert uri.addresses == [("h1", 61613), ("h2", 61614)]
    assert uri.failover
    assert uri.options.randomize is False
    assert uri.options.max_reconnect_attempts == 3
    assert str(uri.endpoints[1]) == "h2:61614"


def test_failover_uri_without_parentheses_lists_brokers() -> None:
    uri = parse_failover_uri("failover:tcp://h1:1,tcp://h2:2")
    assert uri.addresses == [("h1", 1), ("h2", 2)]
    assert uri.options == FailoverOptions()


def test_failover_uri_with_double_slash_is_accepted() -> None:
    assert parse_failover_uri("failover://(tcp://h1:1)").addresses == [("h1", 1)]


@pytest.mark.parametrize("text", ["tcp://h:61613", "stomp://h:61613", "stomp+nio://h:61613"])
def test_bare_broker_uri_is_one_endpoint_without_reconnect(text: str) -> None:
    uri = parse_failover_uri(text)
    assert uri.addresses == [("h", 61613)]
    assert not uri.failover
    assert uri.options.max_reconnect_attempts == 0
    assert uri.options.startup_max_reconnect_attempts == 0


def test_defaults_are_activemq_defaults() -> None:
    options = parse_failover_uri("failover:(tcp://h:1)").options
    assert options.initial_reconnect_delay_ms == 10
    assert options.max_reconnect_delay_ms == 30_000
    assert options.use_exponential_backoff is True
    assert options.reconnect_delay_exponent == 2.0
    assert options.max_reconnect_attempts == -1
    assert options.startup_max_reconnect_attempts == -1
    assert options.randomize is True
    assert options.timeout_ms == -1
    assert options.priority_backup is False
    assert options.priority_uris == ()
    assert options.warn_after_reconnect_attempts == 10
    assert options.backup is False
    assert options.track_messages is False
    assert options.max_cache_size == 131_072
    assert options.nested == ()


def test_every_option_is_parsed() -> None:
    query = "&".join(
        [
            "initialReconnectDelay=100",
            "maxReconnectDelay=5000",
            "useExponentialBackOff=false",
            "reconnectDelayExponent=1.5",
            "maxReconnectAttempts=7",
            "startupMaxReconnectAttempts=2",
            "randomize=FALSE",
            "timeout=3000",
            "priorityBackup=true",
            "priorityURIs=tcp://h2:2",
            "warnAfterReconnectAttempts=0",
            "backup=true",
            "backupPoolSize=2",
            "trackMessages=true",
            "maxCacheSize=1024",
            "trackTransactionProducers=false",
            "updateURIsSupported=false",
            "updateURIsURL=file:///tmp/uris",
            "rebalanceUpdateURIs=false",
            "reconnectSupported=false",
        ]
    )
    options = parse_failover_uri(f"failover:(tcp://h1:1,tcp://h2:2)?{query}").options
    assert options == FailoverOptions(
        initial_reconnect_delay_ms=100,
        max_reconnect_delay_ms=5000,
        use_exponential_backoff=False,
        reconnect_delay_exponent=1.5,
        max_reconnect_attempts=7,
        startup_max_reconnect_attempts=2,
        randomize=False,
        timeout_ms=3000,
        priority_backup=True,
        priority_uris=(Endpoint("h2", 2),),
        warn_after_reconnect_attempts=0,
        backup=True,
        backup_pool_size=2,
        track_messages=True,
        max_cache_size=1024,
        track_transaction_producers=False,
        update_uris_supported=False,
        update_uris_url="file:///tmp/uris",
        rebalance_update_uris=False,
        reconnect_supported=False,
    )


def test_no_effect_options_are_known_options() -> None:
    assert NO_EFFECT_OPTIONS <= KNOWN_OPTIONS
    assert {"backup", "trackMessages", "maxCacheSize"} <= NO_EFFECT_OPTIONS


def test_inner_query_is_kept_and_nested_options_are_appended() -> None:
    uri = parse_failover_uri("failover:(tcp://h1:1?wireFormat.maxInactivityDuration=0,tcp://h2:2)?nested.soTimeout=500")
    assert uri.endpoints[0].query == (("wireFormat.maxInactivityDuration", "0"), ("soTimeout", "500"))
    assert uri.endpoints[1].query == (("soTimeout", "500"),)
    assert uri.options.nested == (("soTimeout", "500"),)


def test_priority_uris_default_empty_and_list_parsed() -> None:
    uri = parse_failover_uri(
        "failover:(tcp://a:1,tcp://b:2,tcp://c:3)?priorityBackup=true&priorityURIs=tcp://a:1,tcp://b:2"
    )
    assert uri.options.priority_uris == (Endpoint("a", 1), Endpoint("b", 2))


def test_missing_port_defaults_to_stomp_port() -> None:
    assert parse_failover_uri("failover:(tcp://h)").addresses == [("h", 61613)]


def test_ipv6_host() -> None:
    assert parse_failover_uri("failover:(tcp://[::1]:61613)").addresses == [("::1", 61613)]


def test_unknown_option_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(FailoverUriError, match=r"failover URI option 'foo' is not known \(known: .*randomize"):
        parse_failover_uri("failover:(tcp://h:1)?foo=1")


def test_misspelt_option_suggests_the_right_one() -> None:
    with pytest.raises(FailoverUriError, match="did you mean 'randomize'"):
        parse_failover_uri("failover:(tcp://h:1)?randomise=false")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("initialReconnectDelay=ten", "not an integer"),
        ("initialReconnectDelay=1.5", "not an integer"),
        ("initialReconnectDelay=-1", "below the minimum 0"),
        ("maxReconnectDelay=-5", "below the minimum 0"),
        ("maxReconnectAttempts=-2", "below the minimum -1"),
        ("startupMaxReconnectAttempts=x", "not an integer"),
        ("timeout=-2", "below the minimum -1"),
        ("maxCacheSize=-1", "below the minimum 0"),
        ("randomize=yes", "not a boolean"),
        ("randomize=", "not a boolean"),
        ("priorityBackup=1", "not a boolean"),
        ("reconnectDelayExponent=0", "positive number"),
        ("reconnectDelayExponent=nan", "positive number"),
        ("reconnectDelayExponent=abc", "not a number"),
        ("randomize=false&randomize=true", "given twice"),
        ("priorityURIs=tcp://elsewhere:9", "not among the brokers"),
    ],
)
def test_bad_option_values_are_errors(query: str, message: str) -> None:
    with pytest.raises(FailoverUriError, match=message):
        parse_failover_uri(f"failover:(tcp://h:1)?{query}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("h:61613", "scheme"),
        ("nothing", "no scheme"),
        ("failover:()", "names no broker"),
        ("failover:(tcp://h:1,,tcp://h:2)", "empty broker entry"),
        ("failover:(tcp://h:1", "unbalanced"),
        ("failover:(tcp://h:1)x", "unexpected"),
        ("failover:(ssl://h:1)", "TLS is not supported"),
        ("failover:(http://h:1)", "not supported"),
        ("failover:(tcp://h:port)", "tcp://h:port"),
        ("failover:(tcp://:1)", "no host"),
        ("failover:(h1:1)", "no scheme"),
    ],
)
def test_malformed_uris_are_errors(text: str, message: str) -> None:
    with pytest.raises(FailoverUriError, match=message):
        parse_failover_uri(text)


def test_failover_options_after_unparenthesised_list_are_rejected_with_a_fix() -> None:
    with pytest.raises(FailoverUriError, match=r"failover:\(tcp://h1:1,tcp://h2:2\)\?randomize=false"):
        parse_failover_uri("failover:tcp://h1:1,tcp://h2:2?randomize=false")


def test_failover_uri_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_failover_uri("failover:(tcp://h:1)?foo=1")
