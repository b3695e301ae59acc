"""The election rule every member of a replicated group applies to the group's view in ZooKeeper."""

from __future__ import annotations

from harness.broker.ha.zk_group import Elected, GroupView, Member, choose_master, may_rejoin
from harness.broker.store.replicated import Position


def _member(broker: str, position: tuple[int, int] | None, lost: int = -1, weight: int = 1) -> Member:
    return Member(
        node=f"m-{broker}",
        id=broker,
        address=f"{broker}:61619",
        weight=weight,
        position=None if position is None else Position(*position),
        lost=lost,
    )


def test_no_master_before_a_quorum_stands() -> None:
    view = GroupView((_member("amq1", (0, 0)),), None, -1)
    assert choose_master(view, quorum=2) is None


def test_latest_position_wins_then_weight_then_name() -> None:
    members = (_member("amq1", (3, 10)), _member("amq2", (3, 12)), _member("amq3", (2, 99)))
    assert choose_master(GroupView(members, None, -1), quorum=2) == Elected("amq2", "amq2:61619", 4)
    tied = (_member("amq1", (3, 12)), _member("amq2", (3, 12), weight=5))
    assert choose_master(GroupView(tied, None, -1), quorum=2) == Elected("amq2", "amq2:61619", 4)
    same = (_member("amq2", (1, 1)), _member("amq1", (1, 1)))
    winner = choose_master(GroupView(same, None, -1), quorum=2)
    assert winner is not None and winner.id == "amq1"


def test_no_election_while_the_elected_master_serves() -> None:
    # amq1 serves term 4 (no position: busy), amq2 follows it, amq3 just joined with an old term.
    members = (_member("amq1", None), _member("amq2", None), _member("amq3", (2, 0), lost=2))
    assert choose_master(GroupView(members, Elected("amq1", "amq1:61619", 4), 3), quorum=2) is None
    # A quorum that has not seen term 4 end is not enough either.
    members = (_member("amq1", None), _member("amq2", (3, 5), lost=3), _member("amq3", (2, 0), lost=2))
    assert choose_master(GroupView(members, Elected("amq1", "amq1:61619", 4), 3), quorum=2) is None


def test_a_quorum_that_saw_the_term_end_elects_without_waiting_for_the_old_masters_session() -> None:
    # kill -9 of amq1: its znode lives until its session expires, but both slaves saw its stream end.
    members = (_member("amq1", None), _member("amq2", (4, 20), lost=4), _member("amq3", (4, 18), lost=4))
    elected = choose_master(GroupView(members, Elected("amq1", "amq1:61619", 4), 7), quorum=2)
    assert elected == Elected("amq2", "amq2:61619", 5)


def test_a_master_that_left_the_group_is_replaced_by_any_standing_quorum() -> None:
    members = (_member("amq2", (4, 20), lost=-1), _member("amq3", (0, 0), lost=-1))
    elected = choose_master(GroupView(members, Elected("amq1", "amq1:61619", 4), 7), quorum=2)
    assert elected == Elected("amq2", "amq2:61619", 5)


def test_the_new_term_is_newer_than_every_position() -> None:
    # A fresh ZooKeeper (no elected record) in front of brokers that served term 9 before.
    members = (_member("amq1", (9, 3)), _member("amq2", (9, 3)))
    elected = choose_master(GroupView(members, None, -1), quorum=2)
    assert elected is not None and elected.term == 10


def test_a_lagging_slave_rejoins_a_master_that_still_serves() -> None:
    # amq1 serves term 4 with amq2 following; amq3's stream broke: it stands, having seen term 4 end.
    members = (_member("amq1", None), _member("amq2", None), _member("amq3", (4, 10), lost=4))
    view = GroupView(members, Elected("amq1", "amq1:61619", 4), 7)
    assert choose_master(view, quorum=2) is None, "one member alone cannot elect"
    assert may_rejoin(view, "amq3", lost_term=4, followed_term=4)


def test_no_rejoining_a_master_whose_term_is_over_or_gone() -> None:
    elected = Elected("amq1", "amq1:61619", 4)
    standing_master = (_member("amq1", (4, 12), lost=4), _member("amq3", (4, 10), lost=4))
    assert not may_rejoin(GroupView(standing_master, elected, 7), "amq3", 4, 4), "its term ended: it stands"
    master_left = (_member("amq2", None), _member("amq3", (4, 10), lost=4))
    assert not may_rejoin(GroupView(master_left, elected, 7), "amq3", 4, 4), "it left the group"
    serving = (_member("amq1", None), _member("amq3", (4, 10), lost=4))
    assert not may_rejoin(GroupView(serving, elected, 7), "amq3", 3, 3), "a term it never followed: follow it"
    assert not may_rejoin(GroupView(serving, elected, 7), "amq3", 4, 5), "it followed a newer term already"
    assert not may_rejoin(GroupView(serving, elected, 7), "amq1", 4, 4), "the master does not rejoin itself"
