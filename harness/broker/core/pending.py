"""The messages of one container that wait: for dispatch (in dispatch order) or for their delivery time.

Dispatch order is FIFO by arrival (a redelivered message goes back to its original place), or, for
a destination whose policy has ``prioritizedMessages="true"``, highest JMS priority first and FIFO
within a priority. Both are heaps with lazy removal: ``discard`` (expiry) only invalidates an entry.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

from harness.broker.message import Location, Message

_tokens = itertools.count(1)


class _LazyHeap:
    location = Location.NOWHERE

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, Message]] = []
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def _key(self, msg: Message) -> int:
        raise NotImplementedError

    def _valid(self, entry: tuple[int, int, int, Message]) -> bool:
        msg = entry[3]
        return msg.location is self.location and msg.heap_token == entry[2]

    def push(self, msg: Message) -> None:
        token = next(_tokens)
        msg.location = self.location
        msg.heap_token = token
        heapq.heappush(self._heap, (self._key(msg), msg.seq, token, msg))
        self._live += 1

    def peek(self) -> Message | None:
        heap = self._heap
        while heap and not self._valid(heap[0]):
            heapq.heappop(heap)
        return heap[0][3] if heap else None

    def pop(self) -> Message | None:
        """The first message, taken out (its location becomes NOWHERE)."""
        msg = self.peek()
        if msg is None:
            return None
        heapq.heappop(self._heap)
        msg.location = Location.NOWHERE
        msg.heap_token = 0
        self._live -= 1
        return msg

    def discard(self, msg: Message) -> bool:
        """Take a message out wherever it is in the heap; False if it is not waiting here."""
        if msg.location is not self.location:
            return False
        msg.location = Location.NOWHERE
        msg.heap_token = 0
        self._live -= 1
        if len(self._heap) > 64 and len(self._heap) > 4 * self._live:
            self._heap = [entry for entry in self._heap if self._valid(entry)]
            heapq.heapify(self._heap)
        return True

    def __iter__(self) -> Iterator[Message]:
        """The waiting messages in order (a snapshot; nothing is taken out)."""
        return iter([entry[3] for entry in sorted(e for e in self._heap if self._valid(e))])

    def clear(self) -> list[Message]:
        messages = list(self)
        for msg in messages:
            msg.location = Location.NOWHERE
            msg.heap_token = 0
        self._heap.clear()
        self._live = 0
        return messages


class PendingMessages(_LazyHeap):
    location = Location.PENDING

    def __init__(self, prioritized: bool = False) -> None:
        super().__init__()
        self.prioritized = prioritized

    def _key(self, msg: Message) -> int:
        return -msg.priority if self.prioritized else 0


class ScheduledMessages(_LazyHeap):
    """Messages that may not be dispatched before their ``deliver_at`` (ms since the epoch)."""

    location = Location.SCHEDULED

    def _key(self, msg: Message) -> int:
        return msg.deliver_at

    def due(self, now_ms: int) -> list[Message]:
        out: list[Message] = []
        while True:
            first = self.peek()
            if first is None or first.deliver_at > now_ms:
                return out
            popped = self.pop()
            assert popped is first
            out.append(popped)
