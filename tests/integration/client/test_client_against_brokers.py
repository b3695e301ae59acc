"""Integration tests of harness.client against real brokers (pybroker, ActiveMQ Classic).

Placeholder: the lead adds tests here that start brokers through the topology/runtime fixtures and
check failover of FailoverConnection (marked ``@pytest.mark.integration``).
"""
