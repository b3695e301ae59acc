"""A replicated store's group in ZooKeeper: who is in it, what each member holds, who is elected.

Layout under zkPath:
  members/m-<seq>   ephemeral, one per live broker: {"id", "address", "weight", "position": [term, seq]
                    or null while it serves or follows, "lost": the last master term it saw end}
  elected           persistent: {"id", "address", "term"}; replaced only by a versioned write, so that two
                    members proposing at once cannot both win, and its term grows with every election

kazoo's calls block while the session is SUSPENDED, so every call here is its async form, awaited on the
event loop with a timeout. kazoo reports connection states on its own thread; they are handed to the
loop, and ``changed`` is set on every state change and watch event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from harness.broker.store.replicated import Position

_CALL_TIMEOUT_S = 2.0


class GroupUnavailable(Exception):
    """ZooKeeper did not answer in time (no session, or no quorum behind it)."""


@dataclass(frozen=True)
class Member:
    node: str  # the znode name: its sequence orders the members
    id: str
    address: str
    weight: int
    position: Position | None
    lost: int

    @property
    def standing(self) -> bool:
        """Neither serving nor following: it has reported its position for an election."""
        return self.position is not None


@dataclass(frozen=True)
class Elected:
    id: str
    address: str
    term: int


@dataclass(frozen=True)
class GroupView:
    members: tuple[Member, ...]
    elected: Elected | None
    elected_version: int  # -1: no elected record yet

    def member(self, broker_id: str) -> Member | None:
        return next((m for m in self.members if m.id == broker_id), None)


def choose_master(view: GroupView, quorum: int) -> Elected | None:
    """The election rule, the same on every member: None while no election is due or possible.

    An election is due when nobody is elected, when the elected master left the group, or when the
    members that stand for election all saw its term end. It is possible when at least ``quorum``
    members stand: every write a quorum confirmed is then held by one of them. The one with the latest
    position wins, then the heaviest weight (ActiveMQ's rule), then the lowest id.
    """
    elected = view.elected
    current = elected.term if elected is not None else 0
    stale = elected is None or view.member(elected.id) is None
    candidates = [m for m in view.members if m.standing and (stale or m.lost >= current)]
    if len(candidates) < quorum:
        return None
    assert all(m.position is not None for m in candidates)
    winner = max(candidates, key=lambda m: (m.position, m.weight, [-ord(c) for c in m.id]))
    newest = max(m.position.term for m in candidates if m.position is not None)
    return Elected(winner.id, winner.address, max(current, newest) + 1)


def may_rejoin(view: GroupView, broker_id: str, lost_term: int, followed_term: int) -> bool:
    """A member that saw the elected term end (``lost_term``) may attach to its master again while that
    master still serves it: it is in the group and does not stand for election, so only this member's
    stream broke (a lagging replica). Asked only when no election is possible (choose_master is None)."""
    elected = view.elected
    if elected is None or elected.id == broker_id:
        return False
    master = view.member(elected.id)
    return elected.term == lost_term and elected.term >= followed_term and master is not None and not master.standing


class ZooKeeperGroup:
    def __init__(
        self, hosts: str, path: str, session_timeout_ms: int, log: logging.Logger, password: str | None = None
    ) -> None:
        self.path = path.rstrip("/")
        self.log = log
        auth = [("digest", f"activemq:{password}")] if password else None
        self.client = KazooClient(
            hosts=hosts,
            timeout=session_timeout_ms / 1000.0,
            connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5},
            auth_data=auth,
        )
        self.session_timeout_s = session_timeout_ms / 1000.0
        self.changed = asyncio.Event()
        self.state = KazooState.LOST
        self.unsettled_since: float | None = time.monotonic()  # not CONNECTED since then
        self.sessions = 0  # incremented on every new session (the member znode is gone after a LOST)
        self.member_path: str | None = None
        self._loop = asyncio.get_running_loop()
        self.client.add_listener(self._on_state)

    # -- kazoo's thread -> the loop -----------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        self._loop.call_soon_threadsafe(self._state_changed, state)

    def _state_changed(self, state: str) -> None:
        if state == self.state:
            return
        self.log.info("ZooKeeper session %s", {"SUSPENDED": "suspended", "LOST": "lost"}.get(state, "connected"))
        if state == KazooState.CONNECTED:
            self.unsettled_since = None
        elif self.unsettled_since is None:
            self.unsettled_since = time.monotonic()
        if state == KazooState.LOST:
            self.member_path = None
        self.state = state
        self.changed.set()

    def _watch(self, *_: Any) -> None:
        self._loop.call_soon_threadsafe(self.changed.set)

    async def _call(self, result: Any, timeout: float = _CALL_TIMEOUT_S) -> Any:
        fut: asyncio.Future[Any] = self._loop.create_future()

        def done(async_result: Any) -> None:
            def settle() -> None:
                if fut.done():
                    return
                if async_result.successful():
                    fut.set_result(async_result.value)
                else:
                    fut.set_exception(async_result.exception)

            self._loop.call_soon_threadsafe(settle)

        result.rawlink(done)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise GroupUnavailable(f"ZooKeeper did not answer within {timeout:.1f} s") from None

    # -- session ------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state == KazooState.CONNECTED

    def session_in_doubt_for(self) -> float:
        """Seconds since the session stopped being CONNECTED (0 while connected)."""
        return 0.0 if self.unsettled_since is None else time.monotonic() - self.unsettled_since

    async def connect(self, timeout: float) -> None:
        event = self.client.start_async()
        deadline = time.monotonic() + timeout
        while not event.is_set():
            if time.monotonic() > deadline:
                raise GroupUnavailable(f"no ZooKeeper session within {timeout:.0f} s")
            await asyncio.sleep(0.05)
        if not self.client.connected:
            raise GroupUnavailable("ZooKeeper refused the session")
        self._state_changed(KazooState.CONNECTED)
        await self._call(self.client.ensure_path_async(f"{self.path}/members"))

    async def close(self) -> None:
        def stop() -> None:
            try:
                self.client.stop()
            finally:
                self.client.close()

        try:
            await asyncio.wait_for(asyncio.to_thread(stop), self.session_timeout_s + 1)
        except TimeoutError:
            self.log.warning("ZooKeeper client did not stop within %.1f s", self.session_timeout_s + 1)

    # -- membership ---------------------------------------------------------------------------------
    async def publish(self, state: dict[str, Any]) -> None:
        """Create this broker's member znode (again, after a lost session) or update it."""
        data = json.dumps(state).encode()
        if self.member_path is not None:
            try:
                await self._call(self.client.set_async(self.member_path, data))
                return
            except NoNodeError:
                self.member_path = None
        created = await self._call(
            self.client.create_async(f"{self.path}/members/m-", data, ephemeral=True, sequence=True, makepath=True)
        )
        self.member_path = str(created)

    async def view(self) -> GroupView:
        """The elected record, then the members. In this order: a member that stops standing and then
        rewrites the elected record (``confirm``) is seen busy by every view that reads the rewrite."""
        elected, version = None, -1
        try:
            data, stat = await self._call(self.client.get_async(f"{self.path}/elected", watch=self._watch))
            elected, version = _elected(data), stat.version
        except NoNodeError:
            await self._call(self.client.exists_async(f"{self.path}/elected", watch=self._watch))
        children = await self._call(self.client.get_children_async(f"{self.path}/members", watch=self._watch))
        reads = [self._call(self.client.get_async(f"{self.path}/members/{c}")) for c in sorted(children)]
        members: list[Member] = []
        for child, outcome in zip(sorted(children), await asyncio.gather(*reads, return_exceptions=True), strict=True):
            if isinstance(outcome, NoNodeError):
                continue  # left between the two reads
            if isinstance(outcome, BaseException):
                raise outcome
            member = _member(child, outcome[0])
            if member is not None:
                members.append(member)
        return GroupView(tuple(members), elected, version)

    async def propose(self, elected: Elected, version: int) -> bool:
        """Write the elected record if nobody changed it since ``version`` was read; True if written."""
        data = json.dumps({"id": elected.id, "address": elected.address, "term": elected.term}).encode()
        try:
            if version < 0:
                await self._call(self.client.create_async(f"{self.path}/elected", data, makepath=True))
            else:
                await self._call(self.client.set_async(f"{self.path}/elected", data, version=version))
        except (BadVersionError, NodeExistsError):
            return False
        return True

    async def confirm(self, elected: Elected, version: int) -> bool:
        """Rewrite the elected record unchanged if nobody changed it since ``version`` was read; True if
        written. Any proposal made from a view read before the rewrite then fails."""
        return await self.propose(elected, version) if version >= 0 else False


def _member(node: str, data: bytes) -> Member | None:
    try:
        raw = json.loads(data.decode())
        position = raw.get("position")
        return Member(
            node=node,
            id=str(raw["id"]),
            address=str(raw["address"]),
            weight=int(raw.get("weight", 1)),
            position=None if position is None else Position(int(position[0]), int(position[1])),
            lost=int(raw.get("lost", -1)),
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None  # not one of ours (or a newer format): ignored


def _elected(data: bytes) -> Elected | None:
    try:
        raw = json.loads(data.decode())
        return Elected(str(raw["id"]), str(raw["address"]), int(raw["term"]))
    except (ValueError, KeyError, TypeError):
        return None
