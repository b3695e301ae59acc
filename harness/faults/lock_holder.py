"""An outside process that takes a shared store's lock file and holds it: ``python -m harness.faults.lock_holder PATH``.

It locks the file the way ActiveMQ (Java's FileChannel.lock) and pybroker do, with a POSIX record
lock on the whole file, waiting while a broker holds it. It prints ``held`` once it has the lock and
keeps it until its standard input closes or it is killed.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time


def hold(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            time.sleep(0.05)
    # Same file, same inode: a broker that re-checks its lock file finds another holder.
    print("held", flush=True)
    sys.stdin.read()  # until the harness closes the pipe (heal) or kills this process
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m harness.faults.lock_holder LOCK_FILE", file=sys.stderr)
        sys.exit(2)
    sys.exit(hold(sys.argv[1]))
