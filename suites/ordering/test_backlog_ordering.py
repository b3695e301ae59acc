"""ActiveMQ's ordering tools (redelivery order, message groups, exclusive consumers) with a backlog
on a live broker: consumers slower than producers, so hundreds of receipted messages wait on the
queue while consumers leave, come back and join. What a consumer had and did not ack goes back
ahead of newer messages; a group stays with its live owner; an exclusive queue stays with its
live owner."""

import pytest

from harness.topology import shared_file

pytestmark = pytest.mark.topology(shared_file(nodes=1))

BACKLOG = 200  # receipted before any consumer runs; then consumers fall behind the producers


def test_a_reopened_consumer_gets_what_it_returned_before_newer_messages(workload):
    """The queue's only consumer closes its subscription three times mid-stream with a backlog behind
    it: every unacked message it had comes back, before any message it was never given."""
    with workload.backlogged(BACKLOG):
        for _ in range(3):
            workload.wait_for_traffic(receipts=100)
            workload.reopen_consumers()
    result = workload.check()
    order = result["redelivery-order"]
    assert order.sessions_checked >= 2, f"no reopened session had returned messages: {result.summary()}"
    result.require(lost=0, stranded=0, late_redeliveries=0, redelivered_after_ack=0)


def test_groups_stay_with_their_live_owner_when_consumers_join(workload):
    """One consumer takes every group of a backlog; two more join while it holds them. The groups move
    only when their owner closes its subscription, and each group stays in its producers' order."""
    with workload.backlogged(BACKLOG, groups=6):
        workload.wait_for_traffic(receipts=100)
        workload.add_consumers(2)
        workload.wait_for_traffic(receipts=200)
        workload.reopen_consumers()
        workload.wait_for_traffic(receipts=200)
    result = workload.check(ordering_scope="group")
    ownership = result["group-ownership"]
    assert ownership.holdings > 6, f"the groups were never handed over: {ownership.summary()}"
    result.require(group_moves=0, lost=0, stranded=0)


def test_an_exclusive_queue_stays_with_its_live_owner(workload):
    """An exclusive consumer works through a backlog; a second exclusive consumer joins and must get
    nothing until the owner closes; then it takes over, and the first waits its turn."""
    with workload.backlogged(BACKLOG, exclusive=True):
        workload.wait_for_traffic(receipts=100)
        workload.add_consumers(1)
        workload.wait_for_traffic(receipts=200)
        workload.reopen_consumers()
        workload.wait_for_traffic(receipts=200)
    result = workload.check()
    exclusivity = result["exclusivity"]
    assert exclusivity.holdings >= 2, f"no takeover happened: {exclusivity.summary()}"
    result.require(exclusive_overlaps=0, lost=0, stranded=0)
