"""pybroker's networks of brokers: bridges that forward queue messages to the brokers with consumer demand.

Beside ha: network -> server (a term's services), core (the broker a bridge feeds and drains),
config (the connectors), stomp.frames (the wire codec of the inter-broker protocol); core never
imports it. ``routing`` holds the pure decisions (demand, broker path, networkTTL, replay, the
duplicate audit), ``wire`` the inter-broker frames, ``bridge`` one bridge connection, ``discovery``
the multicast agent, ``service`` the listener and connectors of one master term.
"""
