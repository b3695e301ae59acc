"""pybroker: a persistent STOMP message broker that speaks STOMP like ActiveMQ Classic, with
ActiveMQ-style shared-file and JDBC master/slave.

Its layers are packages, each importing only the layers below it (the package docstrings say which):
``stomp`` (frames, the per-connection protocol rules, the asyncio transport) -> ``core`` (routing,
destinations and subscriptions, dispatch, groups, policies, selectors, authentication) ->
``store.contract`` <- the stores (``store``: the journal, the JDBC store). ``config`` reads
activemq.xml into the settings of those layers; ``server`` serves master terms for any store;
``ha`` holds the fencing, the lockers and one lifecycle per master/slave mode, on top of the server
and the stores. ``message`` and ``fence`` are the vocabulary every layer shares. ``cli`` is the
entry point (``main(argv)``, ``python -m harness.broker``). See README.md in this directory.
"""
