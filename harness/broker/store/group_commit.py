"""Group commit: many appends, one write (fsync or database COMMIT) at a time, then confirmations.

Shared by the journal and the JDBC store. ``submit`` queues one item and returns a future; one
writer at a time hands every queued item to the blocking ``write`` function in a worker thread,
then runs the fence check and resolves the futures only if this node is still master. A receipt
waits for that future, so nothing is confirmed before it is durable and fenced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Generic, TypeVar

from harness.broker.store.contract import Fenced

T = TypeVar("T")


class GroupCommit(Generic[T]):
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
        self._task: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self._closed = False
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
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return fut

    async def flush(self) -> None:
        """Wait until everything submitted so far was written (or failed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

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

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending and self._error is None:
                items, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                try:
                    await loop.run_in_executor(self._executor, self._write, items)
                except Exception as exc:
                    self._error = self._as_error(exc)
                    for fut in [*waiters, *self._waiters]:
                        fail(fut, self._error)
                    self._waiters, self._pending = [], []
                    self._on_failure(self._error)
                    return
                self.batches += 1
                self.records += len(items)
                if self._error is not None:  # closed while this write ran: it stays unconfirmed
                    for fut in waiters:
                        fail(fut, self._error)
                    return
                # The fence check comes AFTER the write: a record confirmed here is seen by any
                # later master, which fences this one before it reads the store.
                if not self._fence():
                    self._error = Fenced("deposed: another master may have taken over")
                    for fut in [*waiters, *self._waiters]:
                        fail(fut, self._error)
                    self._waiters, self._pending = [], []
                    return
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._task = None


def fail(fut: asyncio.Future[None], exc: Exception) -> None:
    if not fut.done():
        fut.set_exception(exc)
        # Nobody may be waiting (an auto-ack removal): mark the exception as seen to keep the log clean.
        fut.exception()
