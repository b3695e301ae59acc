"""The replicated store's data side: positions on disk, the state a new slave is sent, and the master's
rule that a write is confirmed only once a quorum holds it (a real journal in a temporary directory,
slaves over loopback sockets; no processes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from harness.broker.fence import Fence
from harness.broker.message import Message
from harness.broker.store.contract import AddOp, DurableSubscriptionRecord, Fenced, RemoveOp, SubscribeOp, UnsubscribeOp
from harness.broker.store.replicated import (
    NO_POSITION,
    FollowEnded,
    Position,
    ReplicatedMasterStore,
    ReplicationSettings,
    ReplicationStopped,
    StateMirror,
    follow_master,
    open_epoch,
    recover_local,
)

LOG = logging.getLogger("test.replicated")


def msg(n: int, dest: str = "/queue/a") -> Message:
    m = Message(f"ID:t-1-{n}", dest, {"seq": str(n)}, f"body-{n}".encode(), True)
    m.container = dest
    return m


def settings(directory: Path, min_slave_acks: int = 1, disk: bool = False) -> ReplicationSettings:
    return ReplicationSettings(directory, min_slave_acks, disk, security_token="t", silence_s=2.0)


def test_an_empty_directory_has_no_position(tmp_path: Path) -> None:
    assert recover_local(tmp_path / "store").position == NO_POSITION


def test_position_is_the_epochs_start_plus_the_writes_after_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = open_epoch(tmp_path, Position(5, 10), [msg(1)], [], lambda: True, lambda reason: None)
        await asyncio.gather(journal.append([AddOp(msg(2))]), journal.append([RemoveOp("ID:t-1-1", "/queue/a")]))
        await journal.close()

    asyncio.run(scenario())
    state = recover_local(tmp_path)
    assert state.position == Position(5, 12)
    assert [m.message_id for m in state.messages] == ["ID:t-1-2"]
    # A newer epoch (say, this node became master of term 6) starts again from its own recorded start.
    journal = open_epoch(tmp_path, Position(6, 0), state.messages, [], lambda: True, lambda reason: None)
    asyncio.run(journal.close())
    assert recover_local(tmp_path).position == Position(6, 0)


def test_an_epoch_without_its_recorded_start_claims_nothing(tmp_path: Path) -> None:
    journal = open_epoch(tmp_path, Position(3, 7), [msg(1)], [], lambda: True, lambda reason: None)
    asyncio.run(journal.close())
    (tmp_path / "position.json").unlink()
    # Under-claiming is safe (this node is merely less likely to win); over-claiming could lose messages.
    assert recover_local(tmp_path).position == NO_POSITION


def test_the_mirror_holds_what_a_new_slave_must_receive() -> None:
    sub = DurableSubscriptionRecord("durable:1:c:s", "c", "s", "/topic/t")
    gone = DurableSubscriptionRecord("durable:1:c:x", "c", "x", "/topic/t")
    mirror = StateMirror([msg(1)], [gone])
    in_sub = msg(3, "/topic/t")
    in_sub.container = sub.key
    mirror.apply([AddOp(msg(2)), SubscribeOp(sub), AddOp(in_sub), RemoveOp("ID:t-1-1", "/queue/a")])
    mirror.apply([UnsubscribeOp(gone.key)])
    snapshot = mirror.snapshot()
    assert [op.record.key for op in snapshot if isinstance(op, SubscribeOp)] == [sub.key]
    assert [op.message.message_id for op in snapshot if isinstance(op, AddOp)] == ["ID:t-1-2", "ID:t-1-3"]


class _Master:
    """A master store on a real journal, serving slaves on a loopback port."""

    def __init__(self, directory: Path, min_slave_acks: int = 1, term: int = 4) -> None:
        self.deposed = asyncio.Event()
        self.fence = Fence(term, lambda: term, lambda reason: self.deposed.set())
        journal = open_epoch(directory, Position(term, 0), [], [], self.fence.check, lambda reason: None)
        self.store = ReplicatedMasterStore(
            settings(directory, min_slave_acks), term, journal, StateMirror([], []), self.fence, LOG, lambda: None
        )
        self.server: asyncio.Server | None = None

    async def listen(self) -> int:
        self.server = await asyncio.start_server(self.store.serve_slave, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        await self.store.close()
        if self.server is not None:
            self.server.close()


async def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_write_is_confirmed_only_once_a_slave_holds_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = _Master(tmp_path / "master")
        first = master.store.append([AddOp(msg(1))])
        await asyncio.sleep(0.2)
        assert not first.done(), "confirmed with no slave attached: a quorum of 2 of 3 was not there"
        port = await master.listen()
        follower = asyncio.ensure_future(
            follow_master(settings(tmp_path / "slave"), "amq2", "127.0.0.1", port, 0, LOG, lambda p: None)
        )
        await _wait_for(lambda: master.store.in_sync == 1)
        # The slave attached after the write: its snapshot holds it, so its ACK of the snapshot confirms it.
        await asyncio.wait_for(first, 5)
        await asyncio.wait_for(master.store.append([AddOp(msg(2))]), 5)
        await master.close()
        with pytest.raises(FollowEnded):
            await asyncio.wait_for(follower, 5)

    asyncio.run(scenario())
    slave = recover_local(tmp_path / "slave")
    assert [m.message_id for m in slave.messages] == ["ID:t-1-1", "ID:t-1-2"]
    assert slave.position == Position(4, 2), "the slave holds the snapshot at 4:1 and the write 4:2"


def test_a_term_that_ends_before_the_quorum_confirms_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = _Master(tmp_path / "master")
        pending = master.store.append([AddOp(msg(1))])
        await master.close()
        with pytest.raises(ReplicationStopped):
            await pending
        late = master.store.append([AddOp(msg(2))])
        with pytest.raises(ReplicationStopped):
            await late

    asyncio.run(scenario())


def test_a_deposed_master_confirms_nothing_even_with_acknowledgements(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = _Master(tmp_path / "master")
        port = await master.listen()
        follower = asyncio.ensure_future(
            follow_master(settings(tmp_path / "slave"), "amq2", "127.0.0.1", port, 0, LOG, lambda p: None)
        )
        await _wait_for(lambda: master.store.in_sync == 1)
        master.fence.depose("another master was elected")
        with pytest.raises(Fenced):
            await asyncio.wait_for(master.store.append([AddOp(msg(1))]), 5)
        await master.close()
        with contextlib.suppress(FollowEnded):
            await asyncio.wait_for(follower, 5)

    asyncio.run(scenario())


def test_a_slave_that_followed_a_newer_term_refuses_an_older_master(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = _Master(tmp_path / "master", term=4)
        port = await master.listen()
        with pytest.raises(FollowEnded, match="master term 4 is over"):
            await follow_master(settings(tmp_path / "slave"), "amq2", "127.0.0.1", port, 5, LOG, lambda p: None)
        # The old master learns from it that it was deposed, and confirms nothing more.
        assert master.fence.deposed
        await master.close()

    asyncio.run(scenario())


def test_a_slave_with_the_wrong_token_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = _Master(tmp_path / "master")
        port = await master.listen()
        wrong = ReplicationSettings(tmp_path / "slave", 1, False, security_token="nope", silence_s=2.0)
        with pytest.raises(FollowEnded, match="Invalid security_token"):
            await follow_master(wrong, "amq2", "127.0.0.1", port, 0, LOG, lambda p: None)
        assert master.store.in_sync == 0
        await master.close()

    asyncio.run(scenario())


def test_without_slaves_needed_a_single_node_confirms_on_its_own_fsync(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = _Master(tmp_path / "master", min_slave_acks=0)
        await asyncio.wait_for(master.store.append([AddOp(msg(1))]), 5)
        await master.close()

    asyncio.run(scenario())
