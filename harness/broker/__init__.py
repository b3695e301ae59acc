"""pybroker: a persistent STOMP message broker that speaks STOMP like ActiveMQ Classic, with
ActiveMQ-style shared-file and JDBC master/slave.

Layers, bottom up: ``frames`` (STOMP codec), ``config`` (activemq.xml subset) with ``policy`` and
``auth``, ``selector`` and ``properties`` (JMS selectors), ``message``, ``group_commit``; the
shared-file store: ``journal`` (append-only), ``locker`` (file lock), ``epoch`` (fencing); the JDBC
store: ``database`` (drivers, JDBC URLs), ``jdbc_statements`` (ActiveMQ's SQL), ``jdbc_schema``,
``jdbc_epoch`` (fencing in the database), ``jdbc_store``, ``db_locker`` (database and lease
lockers), ``jdbc_master`` (its master/slave lifecycle); ``pending``, ``groups``, ``subscription``
and ``destinations`` (containers and consumers), ``core`` (routing, dispatch, acks, transactions,
redelivery, dead letters, expiry), ``connection`` (one STOMP client), ``server`` (terms and
listeners), ``logs``, ``cli`` (entry point: ``main(argv)``). See README.md in this directory.
"""
