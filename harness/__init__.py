"""amq-harness: chaos and conformance testing of ActiveMQ-style HA broker clusters.

The broker under test is either pybroker (harness.broker) or Apache ActiveMQ Classic.
"""

__version__ = "0.1.0"
