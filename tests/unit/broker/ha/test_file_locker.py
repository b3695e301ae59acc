"""Shared-file lock. POSIX locks belong to a process, so every rival here is a child process."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness
from harness.broker.ha.file_locker import SharedFileLocker

REPO = str(Path(harness.__file__).resolve().parent.parent)

# A rival process: "try" attempts a non-blocking lock once, "hold" blocks for the lock, says so and
# keeps it until its stdin closes, "pybroker" uses SharedFileLocker.try_acquire.
RIVAL = r"""
import fcntl, os, sys
path, mode = sys.argv[1], sys.argv[2]
if mode == "pybroker":
    import logging
    from pathlib import Path
    from harness.broker.ha.file_locker import SharedFileLocker
    locker = SharedFileLocker(Path(path), 1.0, logging.getLogger())
    print("locked" if locker.try_acquire() else "busy", flush=True)
    sys.exit(0)
fd = os.open(path, os.O_RDWR | os.O_CREAT)
if mode == "try-byte":
    # Like Java's FileChannel.tryLock(0, max(1, size)): only the first byte(s).
    mode, length = "try", 1
else:
    length = 0
if mode == "try":
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length)
        print("locked", flush=True)
    except OSError:
        print("busy", flush=True)
else:
    fcntl.lockf(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()
"""

LOG = logging.getLogger("test-locker")


def rival_try(path: Path, mode: str = "try") -> str:
    env = {**os.environ, "PYTHONPATH": REPO}
    out = subprocess.run(
        [sys.executable, "-c", RIVAL, str(path), mode], capture_output=True, text=True, timeout=30, env=env
    )
    return out.stdout.strip()


class Holder:
    """A child process holding the lock until released."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RIVAL, str(path), "hold"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.kill()
        for stream in (holder.proc.stdin, holder.proc.stdout):
            if stream is not None:
                stream.close()


def test_holder_excludes_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    locker = SharedFileLocker(path, 1.0, LOG)
    assert locker.try_acquire()
    try:
        assert rival_try(path) == "busy"
        assert rival_try(path, "try-byte") == "busy"
        assert rival_try(path, "pybroker") == "busy"
        int(path.read_text())  # the holder wrote the time it took the lock
    finally:
        locker.close()
    assert rival_try(path) == "locked"


def test_keep_alive_checks_do_not_drop_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    locker = SharedFileLocker(path, 1.0, LOG)
    assert locker.try_acquire()
    try:
        for _ in range(3):
            assert locker.check() is None
            assert locker.try_acquire()  # already held: must not open/close the path again
        assert rival_try(path) == "busy"
    finally:
        locker.close()


def test_check_reports_deleted_and_replaced_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    locker = SharedFileLocker(path, 1.0, LOG)
    assert locker.try_acquire()
    try:
        path.unlink()
        assert "was deleted" in (locker.check() or "")
        path.write_text("someone else")
        assert "was replaced" in (locker.check() or "")
    finally:
        locker.close()


def test_try_acquire_fails_while_another_process_holds(tmp_path: Path, holders: list[Holder]) -> None:
    path = tmp_path / "lock"
    holder = Holder(path)
    holders.append(holder)
    locker = SharedFileLocker(path, 1.0, LOG)
    assert not locker.try_acquire()
    holder.release()
    assert locker.try_acquire()
    locker.close()


def test_waiter_takes_over_at_once_when_the_holder_dies(tmp_path: Path, holders: list[Holder]) -> None:
    path = tmp_path / "lock"
    holder = Holder(path)
    holders.append(holder)
    # A long poll interval: takeover must come from the blocked waiter, not from polling.
    locker = SharedFileLocker(path, 30.0, LOG)
    announced: list[int] = []

    async def run() -> float:
        task = asyncio.ensure_future(locker.acquire(lambda: announced.append(1)))
        await asyncio.sleep(0.3)
        assert not task.done()
        killed = time.monotonic()
        holder.kill()
        await asyncio.wait_for(task, 5.0)
        return time.monotonic() - killed

    elapsed = asyncio.run(run())
    try:
        assert announced == [1]
        assert elapsed < 1.0
        assert locker.held and locker.check() is None
        assert rival_try(path) == "busy"
    finally:
        locker.close()


def test_waiter_follows_a_replaced_lock_file(tmp_path: Path, holders: list[Holder]) -> None:
    path = tmp_path / "lock"
    holder = Holder(path)
    holders.append(holder)
    locker = SharedFileLocker(path, 0.1, LOG)

    async def run() -> None:
        task = asyncio.ensure_future(locker.acquire(lambda: None))
        await asyncio.sleep(0.3)
        assert not task.done()
        path.unlink()  # the holder keeps an orphaned inode
        await asyncio.wait_for(task, 5.0)
        assert locker.check() is None
        # The stale waiter now wins the orphaned inode when the old holder goes: it must let go of
        # it without disturbing the lock on the real file.
        holder.release()
        await asyncio.sleep(0.3)

    asyncio.run(run())
    try:
        assert locker.check() is None
        assert len(locker._fds) == 1
        assert rival_try(path) == "busy"
    finally:
        locker.close()
    assert rival_try(path) == "locked"


def test_release_lets_a_rival_in(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    locker = SharedFileLocker(path, 1.0, LOG)
    assert locker.try_acquire()
    locker.release()
    assert not locker.held
    assert rival_try(path) == "locked"
    locker.close()
