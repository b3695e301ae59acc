"""activemq.xml parsing: the supported subset, and a clear refusal of everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.broker.config.activemq_xml import (
    DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS,
    DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS,
    ConfigError,
    StoreConfig,
    load_config,
    parse_config,
)
from harness.broker.core.auth import AuthenticationFailed
from harness.broker.stomp.frames import DEFAULT_MAX_FRAME_SIZE

GOOD = """<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans x">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="node1"
          dataDirectory="/tmp/x/node1/data" useJmx="false" persistent="true">
    <persistenceAdapter>
      <kahaDB directory="/tmp/x/shared/kahadb" lockKeepAlivePeriod="1000">
        <locker><shared-file-locker lockAcquireSleepInterval="1000"/></locker>
      </kahaDB>
    </persistenceAdapter>
    <transportConnectors>
      <transportConnector name="stomp"
        uri="stomp://127.0.0.1:61613?maximumConnections=1000&amp;wireFormat.maxFrameSize=104857600"/>
    </transportConnectors>
  </broker>
</beans>
"""


def bare(inner: str, broker_attrs: str = 'brokerName="b"') -> str:
    return f"""<broker {broker_attrs}>
  <persistenceAdapter><kahaDB directory="/tmp/k"/></persistenceAdapter>
  <transportConnectors><transportConnector name="stomp" uri="stomp://0.0.0.0:61613"/></transportConnectors>
  {inner}
</broker>"""


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "activemq.xml")
    return str(info.value)


def test_good_file() -> None:
    config = parse_config(GOOD)
    assert config.broker_name == "node1"
    assert config.data_directory == Path("/tmp/x/node1/data")
    assert isinstance(config.store, StoreConfig)
    assert config.store.directory == Path("/tmp/x/shared/kahadb")
    assert config.store.lock_keep_alive_period_ms == 1000
    assert config.store.lock_acquire_sleep_interval_ms == 1000
    assert config.store.fail_if_locked is False
    [connector] = config.connectors
    assert (connector.name, connector.scheme, connector.host, connector.port) == (
        "stomp",
        "stomp",
        "127.0.0.1",
        61613,
    )
    assert connector.maximum_connections == 1000
    assert connector.max_frame_size == 104857600


def test_bare_broker_root_and_defaults() -> None:
    config = parse_config(bare(""))
    assert config.broker_name == "b"
    assert isinstance(config.store, StoreConfig)
    assert config.store.lock_keep_alive_period_ms == DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS == 1000
    assert config.store.lock_acquire_sleep_interval_ms == DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS == 10000
    assert config.connectors[0].max_frame_size == DEFAULT_MAX_FRAME_SIZE


def test_keep_alive_zero_and_fail_if_locked() -> None:
    text = bare("").replace(
        '<kahaDB directory="/tmp/k"/>',
        '<kahaDB directory="/tmp/k" lockKeepAlivePeriod="0" journalMaxFileLength="32mb">'
        '<locker><shared-file-locker failIfLocked="true"/></locker></kahaDB>',
    )
    config = parse_config(text)
    assert isinstance(config.store, StoreConfig)
    assert config.store.lock_keep_alive_period_ms == 0
    assert config.store.fail_if_locked is True
    assert "kahaDB journalMaxFileLength" in config.ignored


def test_empty_plugins_and_nio_scheme() -> None:
    text = bare("<plugins/>").replace("stomp://", "stomp+nio://")
    config = parse_config(text)
    assert config.connectors[0].scheme == "stomp+nio"


def test_not_persistent_has_no_store() -> None:
    text = """<broker brokerName="m" persistent="false">
      <transportConnectors><transportConnector name="s" uri="stomp://127.0.0.1:1"/></transportConnectors>
    </broker>"""
    assert parse_config(text).store is None


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("<systemUsage/>", "activemq.xml: <systemUsage> is not supported by pybroker yet"),
        (
            "<plugins><statisticsBrokerPlugin/></plugins>",
            "<statisticsBrokerPlugin> is not supported by pybroker yet (inside <plugins>; supported plugins: "
            "<simpleAuthenticationPlugin>, <redeliveryPlugin>)",
        ),
        (
            "<plugins><authorizationPlugin/></plugins>",
            "<authorizationPlugin> is not supported by pybroker yet",
        ),
    ],
)
def test_unsupported_broker_children(inner: str, expected: str) -> None:
    assert expected in refusal(bare(inner))


def test_other_persistence_adapters_are_refused() -> None:
    text = bare("").replace('<kahaDB directory="/tmp/k"/>', "<memoryPersistenceAdapter/>")
    message = refusal(text)
    assert message == (
        "activemq.xml: <memoryPersistenceAdapter> is not supported by pybroker yet "
        "(inside <persistenceAdapter>; supported: <kahaDB>, <jdbcPersistenceAdapter>, <replicatedLevelDB>)"
    )


def test_replicated_leveldb_with_children_is_refused() -> None:
    text = bare("").replace(
        '<kahaDB directory="/tmp/k"/>', '<replicatedLevelDB directory="x" replicas="3"><locker/></replicatedLevelDB>'
    )
    assert "<replicatedLevelDB> takes no child elements" in refusal(text)


def test_other_connector_schemes_are_refused() -> None:
    message = refusal(bare("").replace("stomp://0.0.0.0:61613", "ssl://0.0.0.0:61616"))
    assert "scheme 'ssl' is not supported by pybroker yet" in message
    assert "<transportConnector name='stomp'>" in message


def test_a_tcp_connector_is_the_bridge_listener_not_a_stomp_one() -> None:
    # Clients need a STOMP connector; the tcp:// one only accepts other brokers' bridges.
    only_tcp = bare("").replace("stomp://0.0.0.0:61613", "tcp://0.0.0.0:61616")
    assert "needs at least one stomp <transportConnector>" in refusal(only_tcp)
    with_options = bare("").replace(
        "</transportConnectors>", '<transportConnector name="ow" uri="tcp://0.0.0.0:61616?x=1"/></transportConnectors>'
    )
    assert "options on the inter-broker listener are not supported" in refusal(with_options)


def test_unknown_connector_option_is_refused() -> None:
    text = bare("").replace("stomp://0.0.0.0:61613", "stomp://0.0.0.0:61613?transport.hbGracePeriodMultiplier=2")
    assert "option 'transport.hbGracePeriodMultiplier' is not supported" in refusal(text)


def test_unknown_attribute_is_refused() -> None:
    assert "<broker> attribute 'advisorySupport' is not supported" in refusal(
        bare("", 'brokerName="b" advisorySupport="false"')
    )
    text = bare("").replace('<kahaDB directory="/tmp/k"/>', '<kahaDB directory="/tmp/k" enableIndexRecovery="true"/>')
    assert "<kahaDB> attribute 'enableIndexRecovery' is not supported" in refusal(text)


def test_other_locker_is_refused() -> None:
    text = bare("").replace(
        '<kahaDB directory="/tmp/k"/>',
        '<kahaDB directory="/tmp/k"><locker><lease-database-locker/></locker></kahaDB>',
    )
    assert "<lease-database-locker>" in refusal(text)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '<kahaDB directory="/tmp/k"/>',
            '<kahaDB directory="/tmp/k" lockKeepAlivePeriod="1s"/>',
            "is not an integer",
        ),
        ('<kahaDB directory="/tmp/k"/>', "<kahaDB/>", "<kahaDB> needs a non-empty directory attribute"),
        (
            '<kahaDB directory="/tmp/k"/>',
            '<kahaDB directory="/tmp/k"><locker><shared-file-locker lockAcquireSleepInterval="-5"/></locker></kahaDB>',
            "must be >= 1",
        ),
        ("stomp://0.0.0.0:61613", "stomp://0.0.0.0", "has no port"),
        ("stomp://0.0.0.0:61613", "stomp://0.0.0.0:61613?maximumConnections=many", "is not an integer"),
        ('brokerName="b"', 'brokerName="b" useJmx="maybe"', "is not a boolean"),
        ('brokerName="b"', 'brokerName="b" schedulerSupport="sometimes"', "schedulerSupport='sometimes'"),
    ],
)
def test_bad_values(old: str, new: str, expected: str) -> None:
    assert expected in refusal(bare("").replace(old, new))


def test_persistent_without_store_is_refused() -> None:
    text = """<broker brokerName="m">
      <transportConnectors><transportConnector name="s" uri="stomp://127.0.0.1:1"/></transportConnectors>
    </broker>"""
    assert "needs <persistenceAdapter>" in refusal(text)


def test_no_connector_is_refused() -> None:
    assert "at least one stomp <transportConnector>" in refusal(
        '<broker><persistenceAdapter><kahaDB directory="/k"/></persistenceAdapter></broker>'
    )


def test_other_beans_are_refused() -> None:
    text = GOOD.replace("<broker ", '<bean id="x" class="Foo"/><broker ')
    assert "<bean id='x'>: class 'Foo' is not supported by pybroker" in refusal(text)


def test_other_root_children_are_refused() -> None:
    text = GOOD.replace("<broker ", '<import resource="jetty.xml"/><broker ')
    assert "<import> is not supported by pybroker yet (inside <beans>)" in refusal(text)


def test_malformed_xml() -> None:
    assert "activemq.xml: not well-formed XML" in refusal("<broker>")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(tmp_path / "nope.xml")


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "activemq.xml"
    path.write_text(bare("<systemUsage/>"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: <systemUsage>")


# -- plugins and destination policies --------------------------------------------------------------

AUTH = """<plugins>
  <simpleAuthenticationPlugin anonymousAccessAllowed="false">
    <users>
      <authenticationUser username="admin" password="secret" groups="admins, users"/>
      <authenticationUser username="bob" password="pw" groups="users"/>
    </users>
  </simpleAuthenticationPlugin>
</plugins>"""

REDELIVERY = """<plugins>
  <redeliveryPlugin fallbackToDeadLetter="true" sendToDlqIfMaxRetriesExceeded="true">
    <redeliveryPolicyMap>
      <redeliveryPolicyMap>
        <redeliveryPolicyEntries>
          <redeliveryPolicy queue="limited.>" maximumRedeliveries="2" initialRedeliveryDelay="1000"
                            redeliveryDelay="2000" useExponentialBackOff="true" backOffMultiplier="2"/>
        </redeliveryPolicyEntries>
        <defaultEntry>
          <redeliveryPolicy maximumRedeliveries="4" initialRedeliveryDelay="5000" redeliveryDelay="10000"/>
        </defaultEntry>
      </redeliveryPolicyMap>
    </redeliveryPolicyMap>
  </redeliveryPlugin>
</plugins>"""

POLICIES = """<destinationPolicy>
  <policyMap>
      <policyEntries>
        <policyEntry queue="prio.>" prioritizedMessages="true" queuePrefetch="10"
                     messageGroupMapFactoryType="cached?cacheSize=8">
          <deadLetterStrategy>
            <individualDeadLetterStrategy queuePrefix="DLQ." processExpired="false"/>
          </deadLetterStrategy>
        </policyEntry>
        <policyEntry topic=">" expireMessagesPeriod="0">
          <deadLetterStrategy>
            <sharedDeadLetterStrategy processNonPersistent="true">
              <deadLetterQueue><queue physicalName="Topic.DLQ"/></deadLetterQueue>
            </sharedDeadLetterStrategy>
          </deadLetterStrategy>
          <messageGroupMapFactory><simpleMessageGroupMapFactory/></messageGroupMapFactory>
        </policyEntry>
      </policyEntries>
      <defaultEntry><policyEntry useConsumerPriority="false"/></defaultEntry>
  </policyMap>
</destinationPolicy>"""


def test_simple_authentication_plugin() -> None:
    auth = parse_config(bare(AUTH)).authentication
    assert auth is not None
    assert [(u.username, u.password, u.groups) for u in auth.users] == [
        ("admin", "secret", ("admins", "users")),
        ("bob", "pw", ("users",)),
    ]
    assert auth.authenticate("bob", "pw").groups == ("users",)
    with pytest.raises(AuthenticationFailed, match=r"^User name \[bob\] or password is invalid\.$"):
        auth.authenticate("bob", "wrong")
    with pytest.raises(AuthenticationFailed, match=r"User name \[null\]"):
        auth.authenticate(None, None)


def test_anonymous_access() -> None:
    text = bare('<plugins><simpleAuthenticationPlugin anonymousAccessAllowed="true" anonymousUser="guest"/></plugins>')
    auth = parse_config(text).authentication
    assert auth is not None and auth.authenticate(None, None).username == "guest"


def test_redelivery_plugin_in_activemq_syntax() -> None:
    config = parse_config(bare(REDELIVERY, 'brokerName="b" schedulerSupport="true"'))
    settings = config.redelivery
    assert settings is not None and config.scheduler_support
    limited = settings.policies.lookup("/queue/limited.a")
    assert limited is not None
    assert (limited.maximum_redeliveries, limited.delay_ms(0), limited.delay_ms(1), limited.delay_ms(2)) == (
        2,
        1000,
        2000,
        4000,
    )
    fallback = settings.policies.lookup("/queue/other")
    assert fallback is not None and (fallback.maximum_redeliveries, fallback.delay_ms(0)) == (4, 5000)


def test_redelivery_plugin_needs_scheduler_support() -> None:
    assert 'requires schedulerSupport="true" on <broker>' in refusal(bare(REDELIVERY))


def test_redelivery_delays_below_activemqs_minimum_are_refused() -> None:
    text = bare(REDELIVERY.replace('initialRedeliveryDelay="1000"', 'initialRedeliveryDelay="10"'))
    message = refusal(text.replace('brokerName="b"', 'brokerName="b" schedulerSupport="true"'))
    assert "initialRedeliveryDelay=10 is too short: ActiveMQ's redeliveryPlugin requires at least 1000 ms" in message


def test_destination_policies() -> None:
    policies = parse_config(bare(POLICIES)).policies
    prio = policies.policy_for("/queue/prio.orders")
    assert prio.prioritized_messages and prio.queue_prefetch == 10
    assert prio.dead_letter.dead_letter_destination("/queue/prio.orders") == "/queue/DLQ.prio.orders"
    assert not prio.dead_letter.process_expired
    assert (prio.groups.kind.value, prio.groups.cache_size) == ("cachedMessageGroupMapFactory", 8)
    topic = policies.policy_for("/topic/t")
    assert topic.expire_messages_period_ms == 0
    assert topic.dead_letter.dead_letter_destination("/topic/t") == "/queue/Topic.DLQ"
    assert topic.dead_letter.process_non_persistent
    assert topic.groups.kind.value == "simpleMessageGroupMapFactory"
    default = policies.policy_for("/queue/plain")
    assert not default.prioritized_messages and not default.use_consumer_priority


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        (
            POLICIES.replace('prioritizedMessages="true"', 'producerFlowControl="false"'),
            "<policyEntry> attribute 'producerFlowControl' is not supported by pybroker yet",
        ),
        (
            POLICIES.replace("<simpleMessageGroupMapFactory/>", "<fancyFactory/>"),
            "<fancyFactory> is not supported by pybroker yet (inside <messageGroupMapFactory>)",
        ),
        (
            POLICIES.replace('queue="prio.>"', ""),
            "<policyEntry> needs a queue, topic, tempQueue or tempTopic attribute",
        ),
        (
            POLICIES.replace('processExpired="false"', 'destinationPerDurableSubscriber="true"'),
            'destinationPerDurableSubscriber="true" is not supported by pybroker yet',
        ),
        (
            POLICIES.replace('queuePrefetch="10"', 'queuePrefetch="0"'),
            "<policyEntry> attribute queuePrefetch='0' must be >= 1",
        ),
        (
            POLICIES.replace("cached?cacheSize=8", "weird"),
            "messageGroupMapFactoryType='weird': expected cached, simple or bucket",
        ),
        (
            POLICIES.replace("<policyMap>", "<policyMap><policyMap>").replace(
                "</policyMap>", "</policyMap></policyMap>"
            ),
            "ActiveMQ's schema has no second <policyMap> there",
        ),
        (
            POLICIES.replace("<policyEntries>", "<policyEntries><pendingQueuePolicy/>"),
            "<pendingQueuePolicy> is not supported by pybroker yet (inside <policyEntries>)",
        ),
        (
            AUTH.replace('password="pw" ', ""),
            "<authenticationUser username='bob'> needs a password attribute",
        ),
        (
            AUTH.replace("<users>", "<users><authenticationUser username='bob' password='x'/>"),
            "<authenticationUser username='bob'> appears more than once",
        ),
        (
            "<plugins><simpleAuthenticationPlugin/></plugins>",
            "<simpleAuthenticationPlugin> has no <authenticationUser>: nobody could connect",
        ),
        (
            REDELIVERY.replace('backOffMultiplier="2"', 'useCollisionAvoidance="true"'),
            "<redeliveryPolicy> attribute 'useCollisionAvoidance' is not supported by pybroker yet",
        ),
    ],
)
def test_unsupported_or_invalid_policy_settings_name_the_element(inner: str, expected: str) -> None:
    assert expected in refusal(bare(inner, 'brokerName="b" schedulerSupport="true"'))
