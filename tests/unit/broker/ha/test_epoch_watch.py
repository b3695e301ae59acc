"""The stat()-based fence reader: cheap while nothing changes, and no stolen epoch goes unnoticed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.broker.fence import Fence
from harness.broker.ha import epoch_watch
from harness.broker.ha.epoch_watch import RACY_MARGIN_NS, EpochWatch, file_system_type, signature
from harness.broker.ha.fencing import EpochStore


def settled_master(store: Path) -> tuple[EpochStore, int, EpochWatch]:
    """A master whose epoch file is older than the racy margin (by the watch's clock, which runs
    ahead instead of the test sleeping), and whose watch trusts its stat."""
    epochs = EpochStore(store)
    term = epochs.claim_next()
    watch = EpochWatch(epochs, term, trust_stat=True, clock=lambda: time.time_ns() + RACY_MARGIN_NS + 50_000_000)
    assert watch() == term
    return epochs, term, watch


def rewrite_in_place_keeping_size_and_mtime(path: Path, text: str) -> None:
    st = path.stat()
    assert len(text.encode()) == st.st_size, "the steal must keep the size"
    with open(path, "r+b") as f:
        f.write(text.encode())
        f.flush()
        os.fsync(f.fileno())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns


def replace_keeping_size_and_mtime(path: Path, text: str) -> None:
    st = path.stat()
    tmp = path.with_name(".epoch.rival")
    tmp.write_text(text)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)


STEALS: dict[str, Callable[[Path, str], None]] = {
    "rewritten, same size, mtime put back": rewrite_in_place_keeping_size_and_mtime,
    "replaced, same size and mtime": replace_keeping_size_and_mtime,
}


def test_a_settled_epoch_is_checked_by_stat_alone(tmp_path: Path) -> None:
    _, term, watch = settled_master(tmp_path)
    reads = watch.content_reads
    for _ in range(100):
        assert watch() == term
    assert watch.content_reads == reads, "an unchanged epoch file was read again instead of stat()ed"


@pytest.mark.parametrize("steal", list(STEALS))
def test_a_stolen_epoch_is_noticed(tmp_path: Path, steal: str) -> None:
    epochs, term, watch = settled_master(tmp_path)
    STEALS[steal](epochs.path, f"{term + 1}\n")
    assert watch() == term + 1, f"epoch file {steal}: the fence still saw its own term {term}"
    reasons: list[str] = []
    fence = Fence(term, watch, reasons.append)
    assert not fence.check()
    assert reasons == [f"fencing epoch moved to {term + 1}, this master holds epoch {term}"]


@pytest.mark.parametrize("steal", list(STEALS))
def test_the_steals_defeat_a_size_and_mtime_signature(
    tmp_path: Path, steal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The steals above really keep size and mtime: a watch comparing only those misses them, so the
    test above proves the inode and ctime are what catch them."""
    monkeypatch.setattr(epoch_watch, "signature", lambda st: (0, 0, st.st_size, st.st_mtime_ns, 0))
    epochs, term, watch = settled_master(tmp_path)
    STEALS[steal](epochs.path, f"{term + 1}\n")
    assert watch() == term


def test_a_fresh_epoch_file_is_read_every_time(tmp_path: Path) -> None:
    """Within the racy margin a change could keep the coarse time stamps: no stat is trusted then."""
    epochs = EpochStore(tmp_path)
    term = epochs.claim_next()
    watch = EpochWatch(epochs, term, trust_stat=True, clock=lambda: epochs.path.stat().st_ctime_ns)
    for _ in range(3):
        assert watch() == term
    assert watch.content_reads == 3


class WholeSecondStamps:
    """os.stat as on a file system storing whole seconds (ext3, ext4 with 128-byte inodes): the epoch
    file's mtime and ctime are the second, by ``clock``, in which its content or inode last changed."""

    def __init__(self, path: Path, clock: Callable[[], int]) -> None:
        self.real_stat = os.stat
        self.path = str(path)
        self.clock = clock
        self.seen: tuple[int, ...] | None = None
        self.stamp = 0

    def __call__(self, path: str | os.PathLike[str], *args: object, **kwargs: object) -> object:
        st = self.real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if os.fspath(path) != self.path:
            return st
        if signature(st) != self.seen:  # changed since the last stat: stamped with this second
            self.seen = signature(st)
            self.stamp = self.clock() // 10**9 * 10**9
        return SimpleNamespace(
            st_dev=st.st_dev, st_ino=st.st_ino, st_size=st.st_size, st_mtime_ns=self.stamp, st_ctime_ns=self.stamp
        )


def test_a_rewrite_in_the_same_whole_second_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With whole-second stamps, a signature recorded 300 ms into a second matches a rewrite made
    later in that second: the watch must not trust it yet (a 100 ms margin did)."""
    second = 1_700_000_000 * 10**9
    now = second + 150_000_000

    def clock() -> int:
        return now

    epochs = EpochStore(tmp_path)
    term = epochs.claim_next()
    monkeypatch.setattr(epoch_watch.os, "stat", WholeSecondStamps(epochs.path, clock))
    watch = EpochWatch(epochs, term, trust_stat=True, clock=clock)
    now = second + 300_000_000
    assert watch() == term
    now = second + 500_000_000
    with open(epochs.path, "r+b") as f:  # a rival rewrites it in place, same size, same second
        f.write(f"{term + 1}\n".encode())
    assert os.stat(epochs.path).st_ctime_ns == second, "the fake file system should keep the stamp"
    assert watch() == term + 1, f"a rewrite within the recorded second went unseen: the fence still saw {term}"

    # Once the stamps are older than the margin, stat alone is trusted, and a later rewrite is seen.
    rival = EpochWatch(epochs, term + 1, trust_stat=True, clock=clock)
    now = second + RACY_MARGIN_NS + 500_000_000
    assert rival() == term + 1
    reads = rival.content_reads
    assert rival() == term + 1
    assert rival.content_reads == reads, "a settled epoch file was read again instead of stat()ed"
    now += 100_000_000
    with open(epochs.path, "r+b") as f:
        f.write(f"{term + 2}\n".encode())
    assert rival() == term + 2


def test_a_claim_not_yet_published_is_seen(tmp_path: Path) -> None:
    epochs, term, watch = settled_master(tmp_path)
    (epochs.claims / f"{term + 1:010d}").write_text("new master, epoch file not written yet\n")
    assert watch() == term + 1


def test_a_deleted_epoch_file_deposes(tmp_path: Path) -> None:
    epochs, term, watch = settled_master(tmp_path)
    epochs.path.unlink()
    reasons: list[str] = []
    assert not Fence(term, watch, reasons.append).check()
    assert "cannot read the fencing epoch" in reasons[0]


def test_without_a_coherent_stat_the_content_is_read_every_time(tmp_path: Path) -> None:
    epochs = EpochStore(tmp_path)
    term = epochs.claim_next()
    watch = EpochWatch(epochs, term, trust_stat=False, clock=lambda: time.time_ns() + 10**10)
    for _ in range(3):
        assert watch() == term
    assert watch.content_reads == 3


def test_file_system_type_takes_the_longest_mount_point(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "40 22 0:50 / /mnt/shared\\040store rw,relatime - nfs4 server:/export rw\n"
        "41 22 0:51 / /mnt/shared rw,relatime - tmpfs tmpfs rw\n"
    )
    assert file_system_type(Path("/mnt/shared store/kahadb"), mountinfo) == "nfs4"
    assert file_system_type(Path("/mnt/shared/kahadb"), mountinfo) == "tmpfs"
    assert file_system_type(Path("/var/lib/x"), mountinfo) == "ext4"
    assert file_system_type(Path("/x"), tmp_path / "missing") is None
