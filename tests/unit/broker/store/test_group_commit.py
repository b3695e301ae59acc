"""Group commit on its own: batching within a turn, flush, and a write abandoned at close."""

from __future__ import annotations

import asyncio
import threading

import pytest

from harness.broker.store.contract import StoreError
from harness.broker.store.group_commit import GroupCommit


def group(write, fence=lambda: True):  # type: ignore[no-untyped-def]
    failures: list[Exception] = []
    commits: GroupCommit[int] = GroupCommit(write, fence, failures.append, lambda e: StoreError(str(e)), "test-gc")
    return commits, failures


def test_items_of_one_turn_share_a_write_and_flush_waits_for_them() -> None:
    batches: list[list[int]] = []

    async def run() -> None:
        commits, _ = group(batches.append)
        futs = [commits.submit(i, StoreError("closed")) for i in range(5)]
        await commits.flush()
        assert all(f.done() and f.exception() is None for f in futs), "flush returned before the write"
        more = commits.submit(5, StoreError("closed"))
        await more
        assert await commits.close(StoreError("closed"), timeout=5)

    asyncio.run(run())
    assert batches == [[0, 1, 2, 3, 4], [5]]


def test_a_write_still_running_at_close_is_abandoned_and_never_confirmed() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_write(items: list[int]) -> None:
        started.set()
        release.wait(10)

    async def run() -> None:
        commits, _ = group(slow_write)
        fut = commits.submit(1, StoreError("closed"))
        while not started.is_set():
            await asyncio.sleep(0.001)
        assert not await commits.close(StoreError("closed by the test"), timeout=0.05)
        release.set()
        await asyncio.sleep(0.1)  # the abandoned write finishes: its outcome must not confirm
        with pytest.raises(StoreError, match="closed by the test"):
            fut.result()
        assert commits.submit(2, StoreError("closed")).exception() is not None

    asyncio.run(run())


def test_a_failed_write_fails_what_waits_and_what_queued_behind_it() -> None:
    gate = threading.Event()

    def write(items: list[int]) -> None:
        gate.wait(10)
        raise OSError("disk gone")

    async def run() -> None:
        commits, failures = group(write)
        first = commits.submit(1, StoreError("closed"))
        await asyncio.sleep(0.01)
        second = commits.submit(2, StoreError("closed"))  # queued while the first write runs
        gate.set()
        await commits.flush()
        for fut in (first, second):
            with pytest.raises(StoreError, match="disk gone"):
                fut.result()
        assert [str(f) for f in failures] == ["disk gone"]
        await commits.close(StoreError("closed"), timeout=5)

    asyncio.run(run())
