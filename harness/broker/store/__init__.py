"""pybroker's message stores: the store contract, the append-only journal (shared-file master/slave) and
the JDBC store (its SQL, schema and fencing row).

Stores implement the contract; they depend on the shared message model and the contract only, never on
the broker core, on STOMP or on the master/slave lifecycles.
"""
