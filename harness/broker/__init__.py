"""pybroker: a persistent STOMP message broker with ActiveMQ-style shared-file and JDBC master/slave.

Layers, bottom up: ``frames`` (STOMP codec), ``config`` (activemq.xml subset), ``message``,
``group_commit``; the shared-file store: ``journal``, ``locker`` (file lock), ``epoch`` (fencing);
the JDBC store: ``database`` (drivers, JDBC URLs), ``jdbc_statements`` (ActiveMQ's SQL),
``jdbc_schema``, ``jdbc_epoch`` (fencing in the database), ``jdbc_store``, ``db_locker`` (database
and lease lockers), ``jdbc_master`` (its master/slave lifecycle); ``core`` (destinations, dispatch,
acks, transactions), ``connection`` (one STOMP client), ``server`` (terms and listeners), ``logs``,
``cli`` (entry point: ``main(argv)``). See README.md in this directory.
"""
