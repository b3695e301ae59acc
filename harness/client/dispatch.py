"""The dispatch thread: runs subscription handlers and listener callbacks one at a time, in order.

Why a thread of its own: stomp.py calls listeners on its socket receiver thread, the same thread that
delivers RECEIPT frames. A handler that sent with a receipt, or acked with one, on that thread would
wait for a frame only that blocked thread could read.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("harness.client")

Task = Callable[[], None]


class Dispatcher:
    """A single daemon thread draining a FIFO of callables; an exception is logged, not fatal."""

    def __init__(self, name: str) -> None:
        # None is the stop marker.
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if not self._started and not self._stopped:
                self._started = True
                self._thread.start()

    def submit(self, task: Task) -> None:
        self._queue.put(task)

    def on_dispatch_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float | None = None) -> None:
        """Run what is queued, then end. Waits up to ``timeout`` unless called from the thread itself."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        self._queue.put(None)
        if started and not self.on_dispatch_thread() and timeout != 0:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            try:
                task()
            except Exception:
                log.exception("%s: a handler or listener callback raised", self._thread.name)
