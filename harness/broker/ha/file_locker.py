"""The shared-file lock that decides which node of a shared store is master.

The lock is a POSIX record lock (fcntl F_SETLK/F_SETLKW) on the whole of ``<store>/lock``, the
kind Java's FileChannel.tryLock takes on Linux, so pybroker and ActiveMQ exclude each other on the
same file. POSIX locks belong to the (process, inode) pair and are dropped when the process closes
ANY descriptor of that inode, so this module keeps exactly one descriptor per inode and inspects
the lock path only with stat(); it never opens and closes the path while holding the lock.

Waiting is done by a helper thread blocked in F_SETLKW, so a master's death is noticed at once
(the kernel releases its lock). Every ``lockAcquireSleepInterval`` the waiter also checks whether
the path now names a different inode (the lock file was deleted or replaced) and, if so, starts
waiting on the new file too; a stale waiter that later wins an orphaned inode releases it. Takeover
therefore does not wait for the poll interval when the master dies; the interval only bounds how
long a deleted or replaced lock file goes unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

FileKey = tuple[int, int]  # (st_dev, st_ino)


def _key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino)


class SharedFileLocker:
    """Acquire, watch and release the lock on one lock file path."""

    def __init__(self, path: Path, acquire_sleep_interval: float, log: logging.Logger) -> None:
        self.path = path
        self.acquire_sleep_interval = acquire_sleep_interval
        self.log = log
        self._fds: dict[FileKey, int] = {}
        self._spare_fds: list[int] = []  # duplicates of an inode in _fds: closing them would drop its lock
        self._waiting: set[FileKey] = set()
        self._held: FileKey | None = None
        self._target: FileKey | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def try_acquire(self) -> bool:
        """One non-blocking attempt on the file the path names now."""
        if self._held is not None:
            return True
        key = self._open_current()
        if key in self._waiting:
            return False
        if self._try_lock(self._fds[key]):
            self._took(key)
            return True
        self._forget_if_idle(key)
        return False

    async def acquire(self, on_waiting: Callable[[], None]) -> None:
        """Wait until this process holds the lock; ``on_waiting`` is called once if it has to wait."""
        self._loop = asyncio.get_running_loop()
        announced = False
        while self._held is None:
            key = self._open_current()
            self._target = key
            if key not in self._waiting:
                if self._try_lock(self._fds[key]):
                    self._took(key)
                    break
                if not announced:
                    announced = True
                    on_waiting()
                self._start_waiter(key)
            self._wakeup = self._loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._wakeup), self.acquire_sleep_interval)
        self._target = None
        self._wakeup = None

    def check(self) -> str | None:
        """The keep-alive check: None while the lock is held on the file the path names, else why not."""
        held = self._held
        if held is None:
            return "the lock is not held"
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"lock file {self.path} was deleted"
        except OSError as exc:
            return f"cannot stat lock file {self.path}: {exc.strerror}"
        if _key(st) != held:
            return f"lock file {self.path} was replaced by another file"
        return None

    def release(self) -> None:
        """Give the lock up (closing our only descriptor of that inode releases it)."""
        held, self._held = self._held, None
        if held is not None:
            self._close(held)

    def close(self) -> None:
        self.release()
        for key in list(self._fds):
            if key not in self._waiting:
                self._close(key)
        for fd in self._spare_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._spare_fds.clear()

    # -- internals -----------------------------------------------------------------------------

    def _open_current(self) -> FileKey:
        """The inode the path names now, opened (created if missing) unless already open."""
        with contextlib.suppress(FileNotFoundError):
            key = _key(os.stat(self.path))
            if key in self._fds:
                return key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        key = _key(os.fstat(fd))
        if key in self._fds:
            # The path went back to an inode we already have open between stat and open.
            self._spare_fds.append(fd)
        else:
            self._fds[key] = fd
        return key

    @staticmethod
    def _try_lock(fd: int) -> bool:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise
        return True

    def _took(self, key: FileKey) -> None:
        self._held = key
        fd = self._fds[key]
        # Like ActiveMQ: the holder records when it took the lock.
        stamp = str(int(time.time() * 1000)).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp, 0)
        os.fsync(fd)

    def _start_waiter(self, key: FileKey) -> None:
        self._waiting.add(key)
        fd = self._fds[key]
        loop = self._loop
        assert loop is not None
        thread = threading.Thread(
            target=self._wait_blocking, args=(fd, key, loop), name=f"lock-wait-{key[1]}", daemon=True
        )
        thread.start()

    def _wait_blocking(self, fd: int, key: FileKey, loop: asyncio.AbstractEventLoop) -> None:
        # Daemon thread: a thread stuck in F_SETLKW must never keep the process alive at exit.
        error: OSError | None = None
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX)
                break
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.EDEADLK:
                    time.sleep(0.05)  # the kernel saw a cycle through another of our waiters: retry
                    continue
                error = exc
                break
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is exiting
            loop.call_soon_threadsafe(self._waiter_done, key, error)

    def _waiter_done(self, key: FileKey, error: OSError | None) -> None:
        self._waiting.discard(key)
        if error is not None:
            self.log.warning("Waiting for the lock on %s failed: %s; will retry", self.path, error)
            self._forget_if_idle(key)
        elif key == self._target and self._held is None and self.check_path_is(key):
            self._took(key)
        else:
            # An orphaned inode (the lock file was deleted or replaced while we waited on it).
            self._close(key)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def check_path_is(self, key: FileKey) -> bool:
        try:
            return _key(os.stat(self.path)) == key
        except OSError:
            return False

    def _forget_if_idle(self, key: FileKey) -> None:
        if key not in self._waiting and key != self._held:
            self._close(key)

    def _close(self, key: FileKey) -> None:
        fd = self._fds.pop(key, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
