"""What ``Workload.check`` reads: a soak's streamed history is loaded from its file once for the lost
check and the checkers, again only when a drain after a restart added records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.faults.base import Nemesis
from harness.history import RECEIVE, SEND, History, MessageKey, Op
from harness.history_stream import StreamedHistory
from harness.topology import shared_file
from harness.workload import Workload, WorkloadOptions


class CountingHistory(StreamedHistory):
    """A streamed history that counts how often it is loaded from its file."""

    loads = 0

    def ops(self) -> list[Op]:
        self.loads += 1
        return super().ops()


class QuietCluster:
    """A cluster with a master at once; ``restart_all`` records what a drain after it would find."""

    def __init__(self, history: History, after_restart: list[MessageKey]) -> None:
        self.topology = shared_file(nodes=2)
        self.history = history
        self.after_restart = after_restart
        self.restarts = 0

    def endpoint_names(self) -> dict[str, str]:
        return {"127.0.0.1:61613": "amq1"}

    def wait_for_any_master(self, timeout: float) -> str:
        return "amq1"

    def restart_all(self, timeout: float) -> None:
        self.restarts += 1


def checked(tmp_path: Path, sent: list[int], delivered: list[int], after_restart: list[int]) -> tuple[Any, ...]:
    history = CountingHistory(tmp_path / "h.jsonl")
    for seq in sent:
        history.record(1, "invoke", SEND, MessageKey("p1", seq))
        history.record(1, "ok", SEND, MessageKey("p1", seq), node="amq1")
    for seq in delivered:
        history.record(2, "ok", RECEIVE, MessageKey("p1", seq), node="amq1")
    cluster = QuietCluster(history, [MessageKey("p1", seq) for seq in after_restart])
    wl = Workload(cluster, history, Nemesis(history), WorkloadOptions(), progress=lambda line: None)  # type: ignore[arg-type]

    def drain(timeout: float = 60.0, after_restart: bool = False) -> int:
        found = cluster.after_restart if after_restart else []
        for key in found:
            history.record(3, "ok", RECEIVE, key, node="amq2", drain=True, after_restart=True)
        return len(found)

    wl.drain = drain  # type: ignore[method-assign]
    verdict = wl.check()
    history.close()
    return verdict, history.loads, cluster.restarts


def test_check_loads_a_streamed_history_once(tmp_path: Path) -> None:
    verdict, loads, restarts = checked(tmp_path, sent=[0, 1, 2], delivered=[0, 1, 2], after_restart=[])
    assert verdict.valid, verdict.problems
    assert (loads, restarts) == (1, 0)


def test_check_loads_it_again_when_a_drain_after_a_restart_added_records(tmp_path: Path) -> None:
    verdict, loads, restarts = checked(tmp_path, sent=[0, 1, 2], delivered=[0, 1], after_restart=[2])
    assert (loads, restarts) == (2, 1)
    # The reload saw what the second drain found: the message was stranded, not lost.
    figures = verdict.figures()
    assert (figures.get("stranded"), figures.get("lost")) == (1, 0), figures
