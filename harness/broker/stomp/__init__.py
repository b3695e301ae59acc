"""pybroker's STOMP layer: the frame codec, the per-connection protocol rules and the asyncio transport.

Depends on core (the broker a connection talks to) and the shared message model; nothing below
imports it.
"""
