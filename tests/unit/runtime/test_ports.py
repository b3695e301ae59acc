"""Ports: below the ephemeral range, never handed out twice to harness processes that run side by side."""

from __future__ import annotations

import os
from pathlib import Path

from harness.runtime.ports import LOWEST_PORT, PortAllocator, PortClaims, _ephemeral_low
from harness.runtime.processes import OwnedProcess


def test_ports_come_from_below_the_ephemeral_range(tmp_path: Path) -> None:
    allocator = PortAllocator(claims=PortClaims(tmp_path))
    ports = [allocator.allocate() for _ in range(20)]
    assert len(set(ports)) == 20
    assert all(LOWEST_PORT <= port < _ephemeral_low() for port in ports), ports


def test_two_allocators_never_hand_out_the_same_port(tmp_path: Path) -> None:
    # Two runtimes of one run, or two xdist workers: the claim files keep them apart.
    first, second = PortAllocator(claims=PortClaims(tmp_path)), PortAllocator(claims=PortClaims(tmp_path))
    first._random.seed(1)
    second._random.seed(1)  # the same choices, one after the other
    assert not {first.allocate() for _ in range(30)} & {second.allocate() for _ in range(30)}


def test_a_port_claimed_by_a_live_process_is_skipped_and_a_dead_ones_taken_over(tmp_path: Path) -> None:
    claims = PortClaims(tmp_path)
    me = OwnedProcess.of(os.getpid(), "")
    assert me is not None
    (tmp_path / "25001").write_text(f"1 {OwnedProcess.of(1, '').start}")  # init: alive  # type: ignore[union-attr]
    (tmp_path / "25002").write_text("4194305 1")  # above any pid_max: gone
    assert not claims.claim(25001)
    assert claims.claim(25002)
    assert (tmp_path / "25002").read_text() == f"{me.pid} {me.start}"
    assert not claims.claim(25002), "a port this process holds is not handed out again"
