"""The watchdog of one run: ``python -m harness.runtime.watchdog RECORD``, started by the run itself.

It runs in a session of its own and reads its standard input, the read end of a pipe that only the
run holds. The kernel closes that pipe when the run ends, however it ends (SIGKILL, the OOM killer,
a crash); the watchdog then removes everything the record lists that is still there: process trees
(while pid and start time match), containers and networks, directories. A run that ends normally
writes ``bye`` first and has already cleaned up; a process its teardown missed is killed all the same,
while its directories stay for people to read.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from harness.runtime.leftovers import reap_record
from harness.runtime.run_record import GOODBYE, WATCHDOG_LOG, RunRecord, state_dir


def _log(line: str) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with (state_dir() / WATCHDOG_LOG).open("a", encoding="utf-8") as out:
        out.write(f"{stamp} pid {os.getpid()}: {line}\n")


def wait_for_end(pipe: int, owner_running: Callable[[], bool] | None) -> bool:
    """Block until the run is gone; True if it said goodbye.

    The pipe closing is the signal; the owner's liveness is checked too, in case a forked child of
    the run still holds the write end.
    """
    received = b""
    while True:
        ready, _, _ = select.select([pipe], [], [], 1.0)
        if ready:
            chunk = os.read(pipe, 4096)
            if not chunk:
                return received.endswith(GOODBYE)
            received = (received + chunk)[-len(GOODBYE) :]
        elif owner_running is not None and not owner_running():
            return received.endswith(GOODBYE)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.runtime.watchdog RUN_RECORD", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the run; the watchdog outlives it
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    path = Path(argv[0])
    owner = RunRecord.read(path).owner
    clean = wait_for_end(sys.stdin.fileno(), owner.is_running if owner is not None else None)
    started = time.monotonic()
    record = RunRecord.read(path)
    reaped = reap_record(record, everything=not clean)
    if reaped.count or reaped.problems or not clean:
        how = "ended cleanly but left" if clean else "died without a goodbye; removed"
        _log(f"run {record.run_id} {how} {reaped.summary()} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
