"""What the replicated master/slave scenarios check beyond the standard checkers."""

import pytest

from harness.checkers import quorum_checker


@pytest.fixture
def replicated_checks(cluster):
    """The standard checkers plus "no master without a quorum" for the cluster's replicated group.

    The redelivery-order check is left out: pybroker dispatches a message as soon as it accepts it and
    confirms it once a quorum holds it (concurrent store and dispatch, as ActiveMQ). When a master loses
    its term in between (paused, cut off, without its slaves), a consumer may have seen a message no
    quorum held; the producer resends it, and that second copy can arrive after newer messages, which
    the check cannot tell from a returned message out of order. Loss, duplicates, per-producer order
    and split brain are still checked.
    """
    group = cluster.group()
    store = group.replicated
    return {
        "quorum": quorum_checker(group.nodes, store.zookeepers, store.zk_session_timeout_ms),
        "redelivery-order": None,
    }
