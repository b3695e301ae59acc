"""Message group maps: LRU eviction (ActiveMQ's default of 1024), unbounded, and hash buckets."""

from __future__ import annotations

from harness.broker.core.groups import (
    CachedGroupMap,
    HashBucketGroupMap,
    SimpleGroupMap,
    java_string_hash,
    make_group_map,
)
from harness.broker.core.policy import GroupMapKind, GroupMapSettings


def test_cached_map_evicts_the_least_recently_used_group() -> None:
    groups: CachedGroupMap[str] = CachedGroupMap(2)
    groups.put("a", "c1")
    groups.put("b", "c2")
    assert groups.get("a") == "c1"  # a read refreshes "a"
    groups.put("c", "c1")
    assert groups.get("b") is None, "the least recently used group loses its owner"
    assert (groups.get("a"), groups.get("c"), len(groups)) == ("c1", "c1", 2)


def test_removing_an_owner_frees_all_its_groups() -> None:
    for groups in (SimpleGroupMap[str](), CachedGroupMap[str](10), HashBucketGroupMap[str](1024)):
        groups.put("a", "c1")
        groups.put("b", "c2")
        groups.remove_owner("c1")
        assert groups.get("a") is None and groups.get("b") == "c2", type(groups).__name__
        groups.remove_group("b")
        assert groups.get("b") is None


def test_simple_map_is_unbounded() -> None:
    groups: SimpleGroupMap[int] = SimpleGroupMap()
    for i in range(5000):
        groups.put(f"g{i}", i)
    assert len(groups) == 5000 and groups.get("g0") == 0


def test_java_string_hash() -> None:
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)
    # UTF-16 code units, as Java hashes them: (233 * 31 + 0xD83D) * 31 + 0xDE00
    assert java_string_hash("é😀") == 1996812


def test_hash_buckets_share_an_owner() -> None:
    groups: HashBucketGroupMap[str] = HashBucketGroupMap(1)
    groups.put("a", "c1")
    assert groups.get("b") == "c1", "with one bucket every group has the same owner"


def test_factory_follows_the_settings() -> None:
    assert isinstance(make_group_map(GroupMapSettings()), CachedGroupMap)
    assert make_group_map(GroupMapSettings()).capacity == 1024  # type: ignore[attr-defined]
    assert isinstance(make_group_map(GroupMapSettings(kind=GroupMapKind.SIMPLE)), SimpleGroupMap)
    assert isinstance(make_group_map(GroupMapSettings(kind=GroupMapKind.HASH_BUCKET)), HashBucketGroupMap)
