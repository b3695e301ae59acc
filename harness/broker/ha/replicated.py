"""Replicated master/slave: the lifecycle of a node whose store is its own journal, replicated from an
elected master over TCP, the election held in ZooKeeper (zk_group.py).

A node, in a loop until it is stopped:
  - stands for election: publishes its position (recovered from its own journal) and, when an
    election is due and a quorum stands, proposes the winner (choose_master) with a versioned write;
  - follows the elected master when another node won a term newer than the last one it saw end: it
    receives the master's state, then every write, and acknowledges them (replicated_store.py);
  - attaches again to a master whose stream it lost while that master still serves (a lagging replica:
    its own link broke, the master kept a quorum), once no election is possible without it;
  - serves as master when it won: claims nothing more than the elected term (the fencing token), opens
    a new journal epoch from its own state, serves its slaves, and opens the client connectors only once
    ``replicas/2`` slaves are in sync. The term ends when a stop is requested, when the in-sync slaves
    drop below that quorum, when its ZooKeeper session is lost (or in doubt for longer than the session
    timeout), or when a newer term is elected. Connectors close at once, and nothing more is confirmed.

Fencing: a write is confirmed only with the acknowledgements of ``replicas/2`` slaves, and a slave
that followed term N refuses every master of an older term. A new master serves only once a quorum
follows it, so a deposed master can no longer collect a quorum of acknowledgements, whatever it believes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial

from harness.broker.config.replicated_leveldb import ReplicatedStoreConfig
from harness.broker.fence import Fence
from harness.broker.ha.zk_group import (
    Elected,
    GroupUnavailable,
    GroupView,
    ZooKeeperGroup,
    choose_master,
    may_rejoin,
)
from harness.broker.server import BrokerServer, StartupError
from harness.broker.store.replicated import (
    FollowEnded,
    LocalState,
    Position,
    ReplicatedMasterStore,
    ReplicationSettings,
    StateMirror,
    follow_master,
    open_epoch,
    recover_local,
)

_POLL_S = 0.1
_CONNECT_TIMEOUT_S = 30.0


class ReplicatedFence(Fence):
    """The fence of one master term: valid while this node is still the elected master of the term, its
    ZooKeeper session is not lost (nor in doubt for longer than the session timeout) and a quorum of
    slaves is in sync.

    ``alive()`` is called by a ticker every 100 ms; a process that was frozen (SIGSTOP, a long stall)
    for longer than the session timeout may have been replaced meanwhile, so the first thing it does
    when it wakes up, answering a client included, finds the fence deposed.
    """

    def __init__(self, term: int, node: ReplicatedMasterSlave, on_deposed: asyncio.Event) -> None:
        super().__init__(term, lambda: term, lambda reason: on_deposed.set())
        self.node = node
        self.alive_at = time.monotonic()

    def alive(self) -> None:
        """The ticker's beat; a beat that comes after a stall longer than the session timeout deposes."""
        if self.problem() is None:
            self.alive_at = time.monotonic()
        else:
            self.check()

    def problem(self) -> str | None:
        stalled = time.monotonic() - self.alive_at
        if stalled > self.node.data.silence_s:
            return f"this process was stalled for {stalled:.1f} s (longer than zkSessionTimeout)"
        group = self.node.group
        if group is None:
            return "no ZooKeeper session"
        if group.session_in_doubt_for() > group.session_timeout_s:
            return f"ZooKeeper session lost (no answer for {group.session_in_doubt_for():.1f} s)"
        if group.state == "LOST":
            return "ZooKeeper session expired"
        elected = self.node.latest_elected
        if elected is not None and elected.term != self.term:
            return f"term {elected.term} was elected ({elected.id}); this master held term {self.term}"
        return None


class ReplicatedMasterSlave:
    def __init__(self, server: BrokerServer, config: ReplicatedStoreConfig) -> None:
        self.server = server
        self.config = config
        self.log = server.log
        self.name = server.name
        self.group: ZooKeeperGroup | None = None
        self.latest_elected: Elected | None = None
        self.local: LocalState | None = None
        self.data = ReplicationSettings(
            directory=config.directory,
            min_slave_acks=config.min_slave_acks,
            sync_to_disk=config.sync == "quorum_disk",
            security_token=config.security_token,
            silence_s=config.zk_session_timeout_ms / 1000.0,
        )
        self.lost_term = -1  # the newest master term this node saw end (as master or slave)
        self.followed_term = 0  # the newest term whose stream this node accepted

    # -- the loop -------------------------------------------------------------------------------------
    async def run(self) -> int:
        self.local = await asyncio.to_thread(recover_local, self.config.directory)
        for note in self.local.torn:
            self.log.warning("Journal recovery: %s", note)
        self.followed_term = self.local.position.term
        self.log.info(
            "Replicated store in %s: %d message(s) at position %s; joining ZooKeeper group %s at %s",
            self.config.directory,
            len(self.local.messages),
            self.local.position,
            self.config.zk_path,
            self.config.zk_address,
        )
        try:
            self.group = ZooKeeperGroup(
                self.config.zk_address,
                self.config.zk_path,
                self.config.zk_session_timeout_ms,
                self.log,
                self.config.zk_password,
            )
        except ValueError as exc:
            raise StartupError(f"<replicatedLevelDB zkAddress>: {exc}") from None
        try:
            await self._connect()
            self.log.info(
                "This broker is now in slave mode waiting to be elected master or to replicate one "
                "(a quorum of %d of %d brokers is needed)",
                self.config.quorum,
                self.config.replicas,
            )
            while not self.server.stopping:
                await self._step()
        finally:
            await self.group.close()
        self.log.info("Broker %s stopped", self.name)
        return 0

    async def _connect(self) -> None:
        assert self.group is not None
        while not self.server.stopping:
            try:
                await self.group.connect(_CONNECT_TIMEOUT_S)
                return
            except GroupUnavailable as exc:
                self.log.warning("Cannot join the ZooKeeper group yet: %s", exc)

    def _standing_state(self) -> dict[str, object]:
        assert self.local is not None
        return {
            "id": self.name,
            "address": self.config.address,
            "weight": self.config.weight,
            "position": list(self.local.position),
            "lost": self.lost_term,
        }

    def _busy_state(self) -> dict[str, object]:
        return {**self._standing_state(), "position": None}

    async def _step(self) -> None:
        """One round: read the group, then serve, follow, propose or wait."""
        assert self.group is not None
        group = self.group
        group.changed.clear()
        try:
            await group.publish(self._standing_state())
            view = await group.view()
        except (GroupUnavailable, Exception) as exc:  # no ZooKeeper quorum, or no session: no master
            if not isinstance(exc, GroupUnavailable):
                self.log.debug("ZooKeeper call failed: %r", exc)
            await self._wait_change(1.0)
            return
        self.latest_elected = view.elected
        elected = view.elected
        if elected is not None and elected.term > self.lost_term and view.member(elected.id) is not None:
            if elected.id == self.name:
                await self._serve(elected)
                return
            if elected.term >= self.followed_term:
                await self._follow(elected, view)
                return
        proposal = choose_master(view, self.config.quorum)
        if proposal is not None:
            if await self._propose(proposal, view):
                return
        elif (
            elected is not None
            and may_rejoin(view, self.name, self.lost_term, self.followed_term)
            and await self._rejoin(elected, view)
        ):
            return
        await self._wait_change(_POLL_S)

    async def _propose(self, proposal: Elected, view: GroupView) -> bool:
        assert self.group is not None
        try:
            written = await self.group.propose(proposal, view.elected_version)
        except Exception as exc:
            self.log.debug("Proposal failed: %r", exc)
            return False
        if written:
            self.log.info(
                "Elected %s master for term %d (%d member(s) standing: %s)",
                proposal.id,
                proposal.term,
                sum(m.standing for m in view.members),
                ", ".join(f"{m.id}@{m.position}" for m in view.members if m.standing),
            )
        return written

    async def _wait_change(self, timeout: float) -> None:
        assert self.group is not None
        stop = asyncio.ensure_future(self.server.stopped())
        change = asyncio.ensure_future(self.group.changed.wait())
        try:
            await asyncio.wait({stop, change}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            change.cancel()

    async def _refresh_local(self) -> None:
        self.local = await asyncio.to_thread(recover_local, self.config.directory)

    # -- slave ----------------------------------------------------------------------------------------
    async def _follow(self, elected: Elected, view: GroupView) -> None:
        assert self.group is not None
        host, _, port = self.config.route(elected.address).rpartition(":")
        try:
            await self.group.publish(self._busy_state())
        except Exception:
            await self._wait_change(_POLL_S)
            return

        def caught_up(position: Position) -> None:
            self.followed_term = max(self.followed_term, position.term)

        watcher = asyncio.ensure_future(self._watch_master(elected))
        # A newly elected master opens its replication port a moment after the election: keep
        # knocking for a session timeout before counting its term as ended.
        deadline = time.monotonic() + self.data.silence_s
        reason = "stopped"
        try:
            while True:
                follower = asyncio.ensure_future(
                    follow_master(self.data, self.name, host, int(port), self.followed_term, self.log, caught_up)
                )
                try:
                    await asyncio.wait({follower, watcher}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not follower.done():
                        follower.cancel()
                        with contextlib.suppress(asyncio.CancelledError, FollowEnded):
                            await follower
                if watcher.done():
                    reason = watcher.result() if not watcher.cancelled() else "stopped"
                    break
                exc = follower.exception() if not follower.cancelled() else None
                reason = exc.reason if isinstance(exc, FollowEnded) else repr(exc)
                if not isinstance(exc, FollowEnded) or exc.attached or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        finally:
            watcher.cancel()
        self.lost_term = max(self.lost_term, elected.term)
        await self._refresh_local()
        assert self.local is not None
        self.log.info(
            "Stopped replicating master %s (term %d): %s; holding position %s",
            elected.id,
            elected.term,
            reason,
            self.local.position,
        )

    async def _rejoin(self, elected: Elected, view: GroupView) -> bool:
        """Attach again to the master of a term this node alone saw end (True if it tried).

        A knock on the master's replication port first: a master that is gone must not cost ZooKeeper
        writes. Then this node stops standing and rewrites the elected record at the version it read,
        so that an election proposed from a view that still counted it as a candidate fails, and every
        later view (the elected record is read first) sees it busy: no new master can be elected from
        a quorum that counts a node which then acknowledges the old master's writes.
        """
        assert self.group is not None
        host, _, port = self.config.route(elected.address).rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
        except (OSError, TimeoutError, ValueError):
            return False
        writer.close()
        try:
            await self.group.publish(self._busy_state())
            if not await self.group.confirm(elected, view.elected_version):
                return False
        except Exception as exc:
            self.log.debug("Rejoining failed: %r", exc)
            return False
        self.log.info(
            "Rejoining master %s (term %d): its stream to this node broke, it still serves", elected.id, elected.term
        )
        await self._follow(elected, view)
        return True

    async def _watch_master(self, elected: Elected) -> str:
        """Returns why following ``elected`` should end: a stop, a newer term, or the master left."""
        assert self.group is not None
        while not self.server.stopping:
            await self._wait_change(0.25)
            if self.server.stopping:
                break
            try:
                view = await self.group.view()
            except Exception:
                continue  # ZooKeeper trouble alone does not end a healthy stream
            self.latest_elected = view.elected
            if view.elected is None or view.elected.term != elected.term:
                return "a new master term was elected"
            if view.member(elected.id) is None:
                return "the master left the ZooKeeper group"
        return "stopped"

    # -- master ---------------------------------------------------------------------------------------
    async def _serve(self, elected: Elected) -> None:
        assert self.group is not None and self.local is not None
        term = elected.term
        self.log.info("Promoted to master for term %d: opening the journal at position %s", term, self.local.position)
        try:
            await self.group.publish(self._busy_state())
        except Exception:
            await self._wait_change(_POLL_S)
            return
        deposed = asyncio.Event()
        fence = ReplicatedFence(term, self, deposed)
        local = self.local
        journal = await asyncio.to_thread(
            partial(
                open_epoch,
                self.config.directory,
                Position(term, 0),
                local.messages,
                local.subscriptions,
                fence.check,
                partial(_journal_failed, fence),
            )
        )
        self.followed_term = term
        quorum_changed = asyncio.Event()
        store = ReplicatedMasterStore(
            self.data,
            term,
            journal,
            StateMirror(local.messages, local.subscriptions),
            fence,
            self.log,
            quorum_changed.set,
        )
        try:
            replication = await asyncio.start_server(store.serve_slave, self.config.bind_host, self.config.bind_port)
        except OSError as exc:
            await store.close()
            raise StartupError(f"<replicatedLevelDB bind>: cannot listen on {self.config.bind_port}: {exc}") from None
        served = False
        try:
            if await self._wait_for_quorum(store, fence, quorum_changed):
                served = True
                await self.server.serve_term(
                    term,
                    store,
                    local.messages,
                    fence,
                    deposed,
                    watchers=[self._keep_alive(store, fence, quorum_changed), self._tick(fence)],
                    subscriptions=local.subscriptions,
                    deposal_line=lambda reason: f"{self.name}, giving up being a master for term {term}: {reason}",
                )
        finally:
            if not served:
                await store.close()
            replication.close()
            with contextlib.suppress(Exception):
                await replication.wait_closed()
            self.lost_term = max(self.lost_term, term)
            await self._refresh_local()
            self.log.info("Master term %d ended; holding position %s", term, self.local.position if self.local else "?")

    async def _wait_for_quorum(
        self, store: ReplicatedMasterStore, fence: ReplicatedFence, changed: asyncio.Event
    ) -> bool:
        """Block until ``replicas/2`` slaves are in sync (True), or give the term up (False)."""
        deadline = time.monotonic() + max(5.0, 2 * self.config.zk_session_timeout_ms / 1000.0)
        announced = False
        while not store.has_quorum:
            fence.alive()
            if self.server.stopping or not fence.check():
                return False
            if time.monotonic() > deadline:
                self.log.warning(
                    "Not enough slaves in sync for term %d (%d of %d needed; %s): giving the term up",
                    fence.term,
                    store.in_sync,
                    self.config.min_slave_acks,
                    store.describe_slaves(),
                )
                return False
            if not announced:
                self.log.info(
                    "Waiting for %d slave(s) to catch up before accepting clients", self.config.min_slave_acks
                )
                announced = True
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 0.1)
        return True

    @staticmethod
    async def _tick(fence: ReplicatedFence) -> None:
        while not fence.deposed:
            fence.alive()
            await asyncio.sleep(_POLL_S)

    async def _keep_alive(self, store: ReplicatedMasterStore, fence: Fence, changed: asyncio.Event) -> None:
        """Depose this master when its quorum or its ZooKeeper standing is gone."""
        assert self.group is not None
        last_view = time.monotonic()
        while not fence.deposed:
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), _POLL_S)
            if not store.has_quorum:
                fence.depose(f"lost its quorum: {store.in_sync} slave(s) in sync, {self.config.min_slave_acks} needed")
                return
            if time.monotonic() - last_view >= 0.25 or self.group.changed.is_set():
                self.group.changed.clear()
                with contextlib.suppress(Exception):
                    view = await self.group.view()
                    last_view = time.monotonic()
                    self.latest_elected = view.elected
            fence.check()


def _journal_failed(fence: Fence, reason: str) -> None:
    fence.depose(f"journal write failed: {reason}")
