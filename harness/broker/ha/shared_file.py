"""Shared-file master/slave: the node that holds the lock on ``<store>/lock`` is master.

A master term, in this order (the order is what makes fencing sound):
  1. acquire the lock on ``<store>/lock`` (slave mode until then: no listener is open);
  2. claim the next fencing epoch (the term);
  3. recover the journal and compact it into this term's first segment;
  4. open the connectors and log that this broker is master.
The term ends on SIGTERM/SIGINT (graceful: flush the journal, close connections, release the lock,
exit) or when the node is deposed: a failed keep-alive check (lock file deleted or replaced), a
failed fence check (the epoch moved on) or a journal write failure. A deposed node confirms nothing
more, closes its listeners and connections, drops its state, releases the lock and goes back to
slave mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from harness.broker.config.activemq_xml import StoreConfig
from harness.broker.fence import Fence
from harness.broker.ha.epoch_watch import EpochWatch
from harness.broker.ha.fencing import EpochConflict, EpochStore
from harness.broker.ha.file_locker import SharedFileLocker
from harness.broker.server import BrokerServer, StartupError
from harness.broker.store.journal import JOURNAL_DIR, Journal, Recovery, recover

LOCK_FILE = "lock"
_STEP_DOWN_PAUSE = 0.1  # lets another node's takeover win before this one asks for the lock again


class SharedFileMasterSlave:
    """The lifecycle of one node of a shared-file group: slave until it holds the lock, then master terms."""

    def __init__(self, server: BrokerServer, store: StoreConfig) -> None:
        self.server = server
        self.store = store
        self.log = server.log

    async def run(self) -> int:
        store = self.store
        store.directory.mkdir(parents=True, exist_ok=True)
        lock_path = store.directory / LOCK_FILE
        locker = SharedFileLocker(lock_path, store.lock_acquire_sleep_interval_ms / 1000.0, self.log)
        epochs = EpochStore(store.directory)
        try:
            if store.fail_if_locked and not locker.try_acquire():
                self.log.error("Database %s is locked by another server and failIfLocked is true; exiting", lock_path)
                return 1
            while not self.server.stopping:
                if not await self._wait_for_lock(locker, lock_path):
                    break
                await self._serve_term(locker, epochs)
                locker.release()
                if not self.server.stopping:
                    await asyncio.sleep(_STEP_DOWN_PAUSE)
        finally:
            locker.close()
        self.log.info("Broker %s stopped", self.server.name)
        return 0

    async def _wait_for_lock(self, locker: SharedFileLocker, lock_path: Path) -> bool:
        """Block in slave mode until the lock is ours (True) or a stop is requested (False)."""
        if locker.held:
            return True

        def announce() -> None:
            self.server.role = "slave"
            self.log.info(
                "Database %s is locked by another server. "
                "This broker is now in slave mode waiting a lock to be acquired",
                lock_path,
            )

        acquire = asyncio.ensure_future(locker.acquire(announce))
        stop = asyncio.ensure_future(self.server.stopped())
        try:
            await asyncio.wait({acquire, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not acquire.done():
            acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquire
            return locker.held and not self.server.stopping
        acquire.result()
        self.log.info("Acquired the lock on %s", lock_path)
        return True

    async def _serve_term(self, locker: SharedFileLocker, epochs: EpochStore) -> None:
        store = self.store
        try:
            term = epochs.claim_next()
        except EpochConflict as exc:
            self.log.warning("Cannot become master: %s; waiting for the lock again", exc)
            return
        deposed = asyncio.Event()
        fence = Fence(term, EpochWatch(epochs, term), lambda reason: deposed.set())
        journal_dir = store.directory / JOURNAL_DIR

        started = time.monotonic()
        try:
            recovery: Recovery = await asyncio.to_thread(recover, journal_dir)
            journal = await asyncio.to_thread(
                partial(
                    Journal.open_term,
                    journal_dir,
                    term,
                    recovery.messages,
                    fence.check,
                    self._journal_failed(fence),
                    subscriptions=recovery.subscriptions,
                )
            )
        except OSError as exc:
            raise StartupError(f"cannot recover the journal in {journal_dir}: {exc}", exit_code=1) from None
        for note in recovery.torn:
            self.log.warning("Journal recovery: %s", note)
        self.log.info(
            "Recovered %d messages from %d journal records in %d segment(s) (%d superseded) in %.0f ms; "
            "compacted into %s",
            len(recovery.messages),
            recovery.records,
            len(recovery.segments_read),
            len(recovery.segments_ignored),
            (time.monotonic() - started) * 1000,
            journal_dir / f"{term:010d}-000000.log",
        )
        if recovery.subscriptions:
            self.log.info("Recovered %d durable topic subscription(s)", len(recovery.subscriptions))
        watchers = []
        period = store.lock_keep_alive_period_ms
        if period > 0:
            watchers.append(self._keep_alive(locker, fence, period / 1000.0))
        await self.server.serve_term(term, journal, recovery.messages, fence, deposed, watchers, recovery.subscriptions)

    @staticmethod
    def _journal_failed(fence: Fence) -> Callable[[str], None]:
        def depose(reason: str) -> None:
            fence.depose(reason)

        return depose

    async def _keep_alive(self, locker: SharedFileLocker, fence: Fence, period: float) -> None:
        while not fence.deposed:
            await asyncio.sleep(period)
            problem = locker.check()
            if problem is not None:
                fence.depose(problem)
                return
            fence.check()
