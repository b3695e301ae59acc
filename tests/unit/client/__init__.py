"""Unit tests of harness.client (failover STOMP client)."""
