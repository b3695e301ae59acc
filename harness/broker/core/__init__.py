"""pybroker's broker core: routing, destinations and subscriptions, dispatch, message groups, destination
policies, selectors and authentication.

Depends on the store contract (what it asks a store to persist) and the shared message model, never on
a particular store, on STOMP or on the master/slave lifecycles.
"""
