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


def test_a_fence_check_that_raises_fails_the_batch_and_never_wedges_later_submits() -> None:
    """A raising fence check once left the group busy for ever: later sends queued and never ran."""
    calls = 0

    def fence() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("lock file unreadable")
        return True

    async def run() -> None:
        commits, failures = group(lambda items: None, fence)
        first = commits.submit(1, StoreError("closed"))
        with pytest.raises(StoreError, match="lock file unreadable"):
            await asyncio.wait_for(first, 10)  # the bound only guards against a hang
        assert [str(f) for f in failures] == ["lock file unreadable"], f"failure hook heard {failures}"
        later = commits.submit(2, StoreError("closed"))
        with pytest.raises(StoreError, match="lock file unreadable"):
            await asyncio.wait_for(later, 10)
        await asyncio.wait_for(commits.flush(), 10)
        assert await commits.close(StoreError("closed"), timeout=5), "close saw a write still running"

    asyncio.run(run())


def test_a_failure_hook_that_raises_still_fails_the_waiters_and_ends_idle() -> None:
    def hook(exc: Exception) -> None:
        raise RuntimeError("hook broke")

    def write(items: list[int]) -> None:
        raise OSError("disk gone")

    async def run() -> None:
        commits: GroupCommit[int] = GroupCommit(write, lambda: True, hook, lambda e: StoreError(str(e)), "test-gc")
        fut = commits.submit(1, StoreError("closed"))
        with pytest.raises(StoreError, match="disk gone"):
            await asyncio.wait_for(fut, 10)
        assert commits.submit(2, StoreError("closed")).done(), "a submit after the failure was queued"
        assert await commits.close(StoreError("closed"), timeout=5), "close saw a write still running"

    asyncio.run(run())


def test_a_batch_that_cannot_be_handed_to_the_writer_fails_its_waiters() -> None:
    """The items are taken off the queue before the hand-over: if it raises, their waiters must fail,
    not wait for ever."""

    async def run() -> None:
        commits, failures = group(lambda items: None)

        def refuse(*args: object) -> None:
            raise TypeError("no writer")

        commits._executor.submit = refuse  # type: ignore[method-assign,assignment]
        fut = commits.submit(1, StoreError("closed"))
        with pytest.raises(StoreError, match="no writer"):
            await asyncio.wait_for(fut, 10)  # the bound only guards against a hang
        assert [str(f) for f in failures] == ["no writer"]
        assert await commits.close(StoreError("closed"), timeout=5)

    asyncio.run(run())
