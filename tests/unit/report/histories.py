"""A small failover history for report tests: two producers' sends, deliveries, one kill and probe rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.history import FAULT_END, FAULT_START, NEMESIS, PROBE, PROBE_NODE, RECEIVE, SEND, History, MessageKey, Op

MS = 1_000_000


def failover_history(split_brain_round: bool = False) -> History:
    """amq1 is master until a kill at 1000 ms (healed at 1500 ms), then amq2; p1#2 fails during the kill.

    With ``split_brain_round`` the probe round at 2000 ms sees both nodes accepting.
    """
    ops: list[Op] = []

    def add(process: int | str, type: str, f: str, value: Any, node: str | None, at_ms: float) -> None:
        ops.append(Op(len(ops), process, type, f, value, int(at_ms * MS), node))  # type: ignore[arg-type]

    for round_no, at in enumerate((0.0, 500.0, 1200.0, 2000.0)):
        masters = {"amq1"} if at < 1000 else {"amq2"}
        if split_brain_round and at == 2000.0:
            masters = {"amq1", "amq2"}
        for node in ("amq1", "amq2"):
            add(PROBE, "ok", PROBE_NODE, {"round": round_no, "accepting": node in masters, "group": "g"}, node, at)
    add(1, "invoke", SEND, MessageKey("p1", 1), None, 10)
    add(1, "ok", SEND, MessageKey("p1", 1), "amq1", 15)  # 5 ms
    add(2, "ok", RECEIVE, MessageKey("p1", 1), "amq1", 20)
    add(NEMESIS, "info", FAULT_START, {"fault": "kill", "fault_id": 0, "target": "amq1"}, "amq1", 1000)
    add(1, "invoke", SEND, MessageKey("p1", 2), None, 1010)
    add(1, "fail", SEND, MessageKey("p1", 2), None, 1020)
    add(NEMESIS, "info", FAULT_END, {"fault": "kill", "fault_id": 0, "target": "amq1"}, "amq1", 1500)
    add(3, "invoke", SEND, MessageKey("p3", 1), None, 1600)
    add(3, "ok", SEND, MessageKey("p3", 1), "amq2", 1650)  # 50 ms
    add(2, "ok", RECEIVE, MessageKey("p3", 1), "amq2", 1700)
    add(3, "invoke", SEND, MessageKey("p3", 2), None, 2400)
    add(3, "info", SEND, MessageKey("p3", 2), None, 2500)
    return History(ops)


def result_line(
    scenario: str,
    vendor: str,
    verdict: str = "pass",
    *,
    runtime: str = "local",
    database: str | None = None,
    history: Path | None = None,
    finished_at: str = "2026-12-01T00:00:00+00:00",
    **extra: Any,
) -> dict[str, Any]:
    group: dict[str, Any] = {"name": "g", "nodes": ["amq1", "amq2"], "store": "jdbc" if database else "shared-file"}
    if database:
        group["jdbc"] = {"database": database, "locker": "database"}
    line: dict[str, Any] = {
        "scenario": scenario,
        "vendor": vendor,
        "vendor_version": "5.17.2" if vendor == "activemq" else "0.1.0",
        "runtime": runtime,
        "topology": {"name": f"jdbc(2, {database}, database)" if database else "shared_file(2)", "groups": [group]},
        "faults": [{"fault": "kill", "fault_id": 0, "target": "amq1"}],
        "verdict": verdict,
        "seed": 7,
        "figures": {},
        "history": str(history) if history else None,
        "expected": None,
        "difference": None,
        "problems": [],
        "reason": None,
        "duration_s": 3.0,
        "finished_at": finished_at,
    }
    line.update(extra)
    return line
