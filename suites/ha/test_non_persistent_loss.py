"""Loss by default: a STOMP SEND without persistent:true is kept in memory only, on ActiveMQ as on
pybroker, although a client may take the receipt for a promise. kill -9 of the master must lose
what was queued, and the harness must see it."""

import pytest

from harness.topology import shared_file

MESSAGES = 100


@pytest.mark.topology(shared_file(nodes=2))
def test_non_persistent_messages_are_lost_on_kill(cluster, workload, faults):
    """Queue non-persistent messages (receipted), kill -9 the master, drain the new master: every
    one of them is gone, and the total-queue check reports exactly that loss."""
    workload.produce(MESSAGES, producers=1, persistent=False)
    master = cluster.master()
    with faults.kill(master):
        cluster.wait_for_master(timeout=30, exclude=(master.name,))
    result = workload.check()
    result.require(acknowledged=MESSAGES, lost=MESSAGES, valid=False)
