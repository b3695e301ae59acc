"""pybroker: a persistent STOMP message broker that speaks STOMP like ActiveMQ Classic, with
ActiveMQ-style shared-file master/slave.

Layers, bottom up: ``frames`` (STOMP codec), ``config`` (activemq.xml subset) with ``policy`` and
``auth``, ``selector`` and ``properties`` (JMS selectors), ``message``, ``journal`` (append-only
store), ``locker`` (shared-file lock) and ``epoch`` (fencing), ``pending``, ``groups``,
``subscription`` and ``destinations`` (containers and consumers), ``core`` (routing, dispatch,
acks, transactions, redelivery, dead letters, expiry), ``connection`` (one STOMP client),
``server`` (master/slave lifecycle and listeners), ``logs``, ``cli`` (entry point: ``main(argv)``).
See README.md in this directory.
"""
