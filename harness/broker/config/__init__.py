"""pybroker's configuration: the activemq.xml subset it reads, refusing everything else by name.

Produces the settings the other layers take (core policies and authentication, store and connector
settings); depends on their setting types, and nothing but the server, the lifecycles and the entry
point import it.
"""
