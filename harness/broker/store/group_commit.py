"""Group commit: many appends, one write (fsync or database COMMIT) at a time, then confirmations.

Shared by the journal and the JDBC store. ``submit`` queues one item and returns a future; one
batch at a time hands every queued item to the blocking ``write`` function in a worker thread,
then runs the fence check and resolves the futures only if this node is still master. A receipt
waits for that future, so nothing is confirmed before it is durable and fenced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from harness.broker.store.contract import Fenced, StoreError

T = TypeVar("T")

log = logging.getLogger(__name__)


class GroupCommit(Generic[T]):
    """The batches run as plain callbacks, not as a task awaiting ``run_in_executor``: a write's
    hand-over to the worker thread and back is on the path of every receipt, and the task, its
    future chain and their wake-ups were four event-loop callbacks per write where one does."""

    def __init__(
        self,
        write: Callable[[list[T]], None],
        fence: Callable[[], bool],
        on_failure: Callable[[Exception], None],
        as_error: Callable[[Exception], Exception],
        thread_name: str,
    ) -> None:
        """``write`` persists a batch (blocking) or raises; ``as_error`` turns what it raised into the
        exception the waiters get (StoreError or Fenced); ``on_failure`` hears about it once."""
        self._write = write
        self._fence = fence
        self._on_failure = on_failure
        self._as_error = as_error
        self._pending: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        # A batch is scheduled (call_soon: the rest of this turn's items join it) or being written.
        self._busy = False
        self._idle: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: Exception | None = None
        self._closed = False
        self._name = thread_name
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self.batches = 0
        self.records = 0

    @property
    def failed(self) -> bool:
        return self._error is not None

    def submit(self, item: T, closed_error: Exception) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self._error is not None or self._closed:
            fail(fut, self._error or closed_error)
            return fut
        self._pending.append(item)
        self._waiters.append(fut)
        if not self._busy:
            self._busy = True
            self._loop = loop
            loop.call_soon(self._next_batch)
        return fut

    async def flush(self) -> None:
        """Wait until everything submitted so far was written (or failed)."""
        while self._busy:
            if self._idle is None:
                self._idle = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._idle)

    async def close(self, closed_error: Exception, timeout: float | None = None) -> bool:
        """Stop accepting items and wait for the write in progress (at most ``timeout`` s).

        Returns False if the write was still running at the timeout (its thread is abandoned:
        its outcome will never be confirmed).
        """
        self._closed = True
        finished = True
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            finished = False
            self._error = self._error or closed_error
        for fut in self._waiters:
            fail(fut, closed_error)
        self._waiters.clear()
        self._pending.clear()
        self._executor.shutdown(wait=finished)
        return finished

    def _next_batch(self) -> None:
        try:
            self._start_batch()
        except BaseException as exc:  # an interrupt is re-raised below
            self._failed(exc, [])
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise

    def _start_batch(self) -> None:
        if not self._pending or self._error is not None:
            self._went_idle()
            return
        items, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        loop = self._loop
        assert loop is not None

        def written(done: concurrent.futures.Future[None]) -> None:  # in the worker thread
            with contextlib.suppress(RuntimeError):  # the loop closed while an abandoned write ran
                loop.call_soon_threadsafe(self._written, done, len(items), waiters)

        try:
            self._executor.submit(self._write, items).add_done_callback(written)
        except BaseException as exc:  # RuntimeError: the executor was shut down (closed after a timeout)
            self._failed(exc, waiters)  # these waiters are no longer queued: fail them here
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise

    def _written(self, done: concurrent.futures.Future[None], count: int, waiters: list[asyncio.Future[None]]) -> None:
        # Whatever goes wrong in here (the fence check raising, say) must end in the failure path:
        # otherwise _busy stays True, no later batch is ever scheduled and every send waits forever.
        try:
            self._confirm(done, count, waiters)
        except BaseException as exc:  # an interrupt is re-raised below
            self._failed(exc, waiters)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise

    def _confirm(self, done: concurrent.futures.Future[None], count: int, waiters: list[asyncio.Future[None]]) -> None:
        exc = done.exception()
        if exc is not None:
            self._failed(exc, waiters)
            return
        self.batches += 1
        self.records += count
        if self._error is not None:  # closed while this write ran: it stays unconfirmed
            for fut in waiters:
                fail(fut, self._error)
            self._went_idle()
            return
        # The fence check comes AFTER the write: a record confirmed here is seen by any
        # later master, which fences this one before it reads the store.
        if not self._fence():
            self._error = Fenced("deposed: another master may have taken over")
            for fut in [*waiters, *self._waiters]:
                fail(fut, self._error)
            self._waiters, self._pending = [], []
            self._went_idle()
            return
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        self._next_batch()

    def _failed(self, exc: BaseException, waiters: list[asyncio.Future[None]]) -> None:
        """Fail the batch and everything queued; always ends idle, even if a hook raises."""
        try:
            error: Exception
            try:
                error = self._as_error(exc) if isinstance(exc, Exception) else StoreError(repr(exc))
            except Exception as conv:  # the waiters still need an error
                error = StoreError(f"{exc!r} (and as_error raised {conv!r})")
            self._error = error
            for fut in [*waiters, *self._waiters]:
                fail(fut, error)
            self._waiters, self._pending = [], []
            try:
                self._on_failure(error)
            except Exception:  # the store already failed: note it, go idle
                log.exception("group commit %s: the failure hook raised", self._name)
        finally:
            self._went_idle()

    def _went_idle(self) -> None:
        self._busy = False
        if self._idle is not None:
            if not self._idle.done():
                self._idle.set_result(None)
            self._idle = None


def fail(fut: asyncio.Future[None], exc: Exception) -> None:
    if not fut.done():
        fut.set_exception(exc)
        # Nobody may be waiting (an auto-ack removal): mark the exception as seen to keep the log clean.
        fut.exception()
