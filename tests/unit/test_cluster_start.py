"""How a starting cluster decides its slaves are up: the standby log line, else a process that stays up."""

from dataclasses import dataclass, field

import pytest

from harness import cluster as cluster_module
from harness.cluster import SLAVE_LOG_LINE, Cluster
from harness.runtime.base import START_MARKER, NodeError


@dataclass
class FakeNode:
    name: str
    alive: bool = True
    # What the log holds after each poll: the last entry stays.
    log_after: list[str] = field(default_factory=list)
    polls: int = 0

    def logs(self, tail: int | None = None) -> str:
        text = self.log_after[min(self.polls, len(self.log_after) - 1)] if self.log_after else ""
        self.polls += 1
        return text


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(cluster_module.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(cluster_module.time, "sleep", fake.sleep)
    return fake


def cluster_of(*nodes: FakeNode) -> Cluster:
    made = Cluster.__new__(Cluster)
    made.nodes = {node.name: node for node in nodes}  # type: ignore[misc]
    return made


def started(*lines: str) -> str:
    return f"{START_MARKER} amq ----\n" + "".join(f"{line}\n" for line in lines)


def test_slaves_that_log_standby_are_up_before_the_settle_time(clock: FakeClock) -> None:
    slave = FakeNode("amq2", log_after=[started(), started(), started("booting", SLAVE_LOG_LINE)])
    cluster_of(slave)._wait_running(["amq2"], settle=5.0)
    assert clock.now < 1.0, f"waited {clock.now} s of a 5 s settle although the slave had logged standby"


def test_standby_logged_by_an_earlier_run_does_not_count(clock: FakeClock) -> None:
    earlier = started(SLAVE_LOG_LINE) + started("booting")
    cluster_of(FakeNode("amq2", log_after=[earlier]))._wait_running(["amq2"], settle=2.0)
    assert clock.now >= 2.0


def test_a_slave_that_never_logs_standby_gets_the_settle_time(clock: FakeClock) -> None:
    cluster_of(FakeNode("amq2", log_after=[started("still starting")]))._wait_running(["amq2"], settle=1.0)
    assert clock.now >= 1.0


def test_every_slave_must_log_standby(clock: FakeClock) -> None:
    ready = FakeNode("amq2", log_after=[started(SLAVE_LOG_LINE)])
    slow = FakeNode("amq3", log_after=[started()] * 10 + [started(SLAVE_LOG_LINE)])
    cluster_of(ready, slow)._wait_running(["amq2", "amq3"], settle=5.0)
    assert slow.polls >= 11 and clock.now < 5.0


def test_a_slave_that_exits_during_start_up_is_an_error(clock: FakeClock) -> None:
    dead = FakeNode("amq2", alive=False, log_after=[started("OSError: [Errno 98] Address already in use")])
    with pytest.raises(NodeError, match=r"(?s)node amq2 exited during start-up.*Address already in use"):
        cluster_of(dead)._wait_running(["amq2"], settle=1.0)
