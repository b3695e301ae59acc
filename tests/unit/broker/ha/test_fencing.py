"""Fencing epoch: atomic monotonic terms, claim conflicts, and the fence check."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.broker.fence import Fence
from harness.broker.ha.fencing import EpochConflict, EpochStore


def test_fresh_store_is_epoch_zero(tmp_path: Path) -> None:
    assert EpochStore(tmp_path).read() == 0


def test_claims_are_monotonic_and_published(tmp_path: Path) -> None:
    epochs = EpochStore(tmp_path)
    assert epochs.claim_next() == 1
    assert epochs.claim_next() == 2
    assert (tmp_path / "epoch").read_text().strip() == "2"
    assert epochs.read() == 2
    assert not list(tmp_path.glob(".epoch*.tmp"))


def test_a_claim_made_but_not_published_is_skipped(tmp_path: Path) -> None:
    epochs = EpochStore(tmp_path)
    assert epochs.claim_next() == 1
    (tmp_path / "epoch.d" / f"{2:010d}").write_text("crashed before publishing\n")
    assert epochs.claim_next() == 3


def test_two_nodes_cannot_claim_the_same_term(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    epochs = EpochStore(tmp_path)
    epochs.claim_next()
    rival = EpochStore(tmp_path)
    epochs.claim_next()
    # The rival looked at the store before our claim of term 2 (and its publication) were visible.
    monkeypatch.setattr(rival, "_claimed_terms", lambda: [1])
    monkeypatch.setattr(rival, "read", lambda: 1)
    with pytest.raises(EpochConflict):
        rival.claim_next()


def test_old_claims_are_pruned(tmp_path: Path) -> None:
    epochs = EpochStore(tmp_path)
    for _ in range(40):
        epochs.claim_next()
    assert len(list((tmp_path / "epoch.d").iterdir())) <= 17


def test_missing_epoch_file_after_masters_is_an_error(tmp_path: Path) -> None:
    epochs = EpochStore(tmp_path)
    epochs.claim_next()
    (tmp_path / "epoch").unlink()
    with pytest.raises(FileNotFoundError):
        epochs.read()


def test_current_term_sees_a_claim_before_it_is_published(tmp_path: Path) -> None:
    epochs = EpochStore(tmp_path)
    term = epochs.claim_next()
    assert epochs.current_term_for(term) == term
    (tmp_path / "epoch.d" / f"{term + 1:010d}").write_text("new master, epoch file not written yet\n")
    assert epochs.current_term_for(term) == term + 1


def test_fence_passes_while_the_epoch_is_ours() -> None:
    reasons: list[str] = []
    fence = Fence(3, lambda: 3, reasons.append)
    assert fence.check() and fence.check()
    assert not fence.deposed and reasons == []


def test_fence_deposes_once_and_stays_deposed() -> None:
    current = [3]
    reasons: list[str] = []
    fence = Fence(3, lambda: current[0], reasons.append)
    assert fence.check()
    current[0] = 4
    assert not fence.check()
    current[0] = 3  # even if the file went back, a deposed term never comes back
    assert not fence.check()
    assert fence.deposed
    assert reasons == ["fencing epoch moved to 4, this master holds epoch 3"]


def test_fence_unreadable_epoch_deposes() -> None:
    def broken() -> int:
        raise OSError("gone")

    reasons: list[str] = []
    fence = Fence(1, broken, reasons.append)
    assert not fence.check()
    assert "cannot read the fencing epoch" in reasons[0]


def test_explicit_depose() -> None:
    reasons: list[str] = []
    fence = Fence(1, lambda: 1, reasons.append)
    fence.depose("lock file deleted")
    fence.depose("again")
    assert not fence.check()
    assert reasons == ["lock file deleted"]
