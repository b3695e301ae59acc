"""An outside process that takes a shared store's lock file and holds it:
``python -m harness.faults.lock_holder [--replace] PATH``.

It locks the file the way ActiveMQ (Java's FileChannel.lock) and pybroker do, with a POSIX record
lock on the whole file, waiting while a broker holds it. With ``--replace`` it steals instead: it locks
a fresh file first and renames it over PATH, so that no broker can lock the new file before it does.
It prints ``held`` once it has the lock and keeps it until its standard input closes or it is killed.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time


def hold(path: str, replace: bool = False) -> int:
    if replace:
        fresh = f"{path}.outside-holder"
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows this file yet
        os.replace(fresh, path)  # atomic: the lock file is ours from the moment it has its name
        print("held", flush=True)
        sys.stdin.read()
        return 0
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
    arguments = sys.argv[1:]
    steal = arguments[:1] == ["--replace"]
    if steal:
        arguments = arguments[1:]
    if len(arguments) != 1:
        print("usage: python -m harness.faults.lock_holder [--replace] LOCK_FILE", file=sys.stderr)
        sys.exit(2)
    sys.exit(hold(arguments[0], replace=steal))
