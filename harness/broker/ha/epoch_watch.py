"""The fence reader of a shared-file master: one stat() per check, the epoch re-read only on a change.

The fence check runs after every journal write and every dispatch round, and reading the epoch
file (open, read, close) was a tenth of a broker's time per message. ``EpochWatch`` answers the
same question as ``EpochStore.current_term_for`` from a ``stat()`` of the epoch file compared with
the signature recorded when its content was last read and found to be this master's term.

Why a matching signature proves the content unchanged (the argument of git's "racily clean" index):
the signature is (device, inode, size, mtime, ctime). Every way to change what the path names
changes one of them: a rename over it (how ``EpochStore`` publishes) names another inode, and
a reused inode number has a new ctime; writing into the file, truncating it, chmod, and even
``os.utime`` putting the old mtime back set ctime to the current time, which nobody can set. Time
stamps are coarse, though: a kernel clock tick (1-10 ms) on most file systems, and whole seconds
on ext2/ext3, ext4 with 128-byte inodes and reiserfs. A change made within the same tick or second
as the recorded one can keep both stamps, so a signature is trusted only when its ctime and mtime
are more than ``RACY_MARGIN_NS`` (2 s: a whole-second stamp lags the change by up to 1 s) older
than the clock read before the first stat. Until then every check re-reads the content, as
without the stat, so the margin only delays the saving for two seconds after the epoch file
changed (a takeover). The content is read between two stats that must agree, so the trusted
signature is the one of the content read. (Only a wall clock stepped back past the recorded ctime
could give a later change the same ctime, and then only a change landing in that very tick or second
with the same size and inode.)

What stays per check: the claim of the next term (``epoch.d/<term+1>``, created before the epoch
file is published) is looked up every time, as before, so a rival that has claimed but not yet
published is still seen.

Only where stat() is coherent: on a local file system (and the bind mounts and volumes containers
share on one host) a stat sees every change at once. An NFS client caches attributes for up to
``acregmin`` seconds and revalidates them only on open() (close-to-open consistency), so on a file
system not known to be local every check re-reads the content, as before.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from harness.broker.ha.fencing import EpochStore

# More than the lag of any local file system's stamps: a clock tick (1-10 ms), or a whole second.
RACY_MARGIN_NS = 2_000_000_000

# File systems whose stat() reflects every change made on this host at once.
LOCAL_FILE_SYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "overlay", "zfs", "f2fs", "jfs", "reiserfs"}
)

Signature = tuple[int, int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_system_type(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The type of the file system holding ``path`` (the longest mount point above it), or None."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve())
    best, best_type = "", None
    for line in lines:
        fields, _, tail = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not tail:
            continue
        # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
        mount_point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, tail.split()[0]
    return best_type


def stat_is_coherent(path: Path) -> bool:
    return file_system_type(path) in LOCAL_FILE_SYSTEMS


class EpochWatch:
    """``current_term_for(term)`` of an ``EpochStore``, re-reading the epoch file only when it changed.

    Call it as the fence's reader. ``trust_stat`` None decides from the file system's type;
    ``content_reads`` counts the reads of the epoch file (what the stat saves).
    """

    def __init__(
        self,
        epochs: EpochStore,
        term: int,
        trust_stat: bool | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.epochs = epochs
        self.term = term
        self.trust_stat = stat_is_coherent(epochs.store_dir) if trust_stat is None else trust_stat
        self._clock = clock
        self._epoch_path = str(epochs.path)
        self._claim_path = str(epochs.claims / f"{term + 1:010d}")
        self._trusted: Signature | None = None
        self.content_reads = 0

    def __call__(self) -> int:
        published = self._published()
        # os.access: an existence test that raises nothing (os.path.exists builds an exception).
        if published == self.term and os.access(self._claim_path, os.F_OK):
            return self.term + 1
        return published

    def _published(self) -> int:
        if self._trusted is not None:
            try:
                if signature(os.stat(self._epoch_path)) == self._trusted:
                    return self.term
            except OSError:
                pass  # the read below reports it as EpochStore.read does
            self._trusted = None
        now = self._clock()
        try:
            before: Signature | None = signature(os.stat(self._epoch_path))
        except OSError:
            before = None
        self.content_reads += 1
        published = self.epochs.read()
        if self.trust_stat and published == self.term and before is not None:
            try:
                after = signature(os.stat(self._epoch_path))
            except OSError:
                return published  # gone since the read: the next check reports it
            old_enough = max(after[3], after[4]) < now - RACY_MARGIN_NS
            if after == before and old_enough:
                self._trusted = after
        return published
