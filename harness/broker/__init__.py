"""pybroker: a persistent STOMP message broker with ActiveMQ-style shared-file master/slave.

Layers, bottom up: ``frames`` (STOMP codec), ``config`` (activemq.xml subset), ``message``,
``journal`` (append-only store), ``locker`` (shared-file lock) and ``epoch`` (fencing), ``core``
(destinations, dispatch, acks, transactions), ``connection`` (one STOMP client), ``server``
(master/slave lifecycle and listeners), ``logs``, ``cli`` (entry point: ``main(argv)``).
See README.md in this directory.
"""
