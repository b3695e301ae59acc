"""pybroker's master/slave: fencing epochs, the shared-file locker, the database lockers, and one lifecycle
module per master/slave mode (shared file, JDBC).

The top layer: a lifecycle depends on the server (terms and listeners) and on its store; nothing but
the entry point imports it.
"""
