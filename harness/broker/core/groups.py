"""Message group ownership maps: which consumer owns a JMSXGroupID on one queue.

The three kinds ActiveMQ offers, with its defaults: ``cached`` (an LRU of 1024 groups: the least
recently used group loses its owner when the map is full, so its next message may go to another
consumer, the ordering caveat ActiveMQ documents), ``simple`` (unbounded) and ``bucket`` (groups
hashed into a fixed number of buckets by Java's String.hashCode; a bucket has one owner).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

from harness.broker.core.policy import GroupMapKind, GroupMapSettings

Owner = TypeVar("Owner")


class GroupMap(Protocol[Owner]):
    def get(self, group: str) -> Owner | None: ...

    def put(self, group: str, owner: Owner) -> None: ...

    def remove_group(self, group: str) -> None: ...

    def remove_owner(self, owner: Owner) -> None: ...

    def __len__(self) -> int: ...


class SimpleGroupMap(Generic[Owner]):
    def __init__(self) -> None:
        self._owners: dict[str, Owner] = {}

    def get(self, group: str) -> Owner | None:
        return self._owners.get(group)

    def put(self, group: str, owner: Owner) -> None:
        self._owners[group] = owner

    def remove_group(self, group: str) -> None:
        self._owners.pop(group, None)

    def remove_owner(self, owner: Owner) -> None:
        for group in [g for g, o in self._owners.items() if o is owner]:
            del self._owners[group]

    def __len__(self) -> int:
        return len(self._owners)


class CachedGroupMap(SimpleGroupMap[Owner]):
    """An access-ordered LRU, like ActiveMQ's LRUMap: reads refresh a group too."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._owners: OrderedDict[str, Owner] = OrderedDict()

    def get(self, group: str) -> Owner | None:
        owner = self._owners.get(group)
        if owner is not None:
            self._owners.move_to_end(group)
        return owner

    def put(self, group: str, owner: Owner) -> None:
        self._owners[group] = owner
        self._owners.move_to_end(group)
        while len(self._owners) > self.capacity:
            self._owners.popitem(last=False)


def java_string_hash(text: str) -> int:
    """Java's String.hashCode (over UTF-16 code units), as a signed 32-bit int."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


class HashBucketGroupMap(Generic[Owner]):
    """Groups share the owner of their bucket: ``abs(hashCode % buckets)``, as ActiveMQ computes it."""

    def __init__(self, buckets: int) -> None:
        self._owners: list[Owner | None] = [None] * buckets

    def _bucket(self, group: str) -> int:
        # Java: hashCode % n keeps the dividend's sign, and a negative bucket is negated.
        return abs(java_string_hash(group)) % len(self._owners)

    def get(self, group: str) -> Owner | None:
        return self._owners[self._bucket(group)]

    def put(self, group: str, owner: Owner) -> None:
        self._owners[self._bucket(group)] = owner

    def remove_group(self, group: str) -> None:
        self._owners[self._bucket(group)] = None

    def remove_owner(self, owner: Owner) -> None:
        for i, current in enumerate(self._owners):
            if current is owner:
                self._owners[i] = None

    def __len__(self) -> int:
        return sum(owner is not None for owner in self._owners)


def make_group_map(settings: GroupMapSettings) -> GroupMap[Owner]:
    if settings.kind is GroupMapKind.SIMPLE:
        return SimpleGroupMap()
    if settings.kind is GroupMapKind.HASH_BUCKET:
        return HashBucketGroupMap(settings.bucket_count)
    return CachedGroupMap(settings.cache_size)
