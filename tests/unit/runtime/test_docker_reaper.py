"""prune removes the harness's objects whose owner died, containers before networks; a fake engine."""

from __future__ import annotations

from typing import Any

from harness.runtime.docker_labels import LABEL_RUN, Owner
from harness.runtime.docker_reaper import prune

HOST = "ci-machine"
LIVE, DEAD = Owner(HOST, 100, "5000"), Owner(HOST, 200, "7")


class FakeObject:
    def __init__(self, engine: FakeEngine, kind: str, name: str, labels: dict[str, str]) -> None:
        self.engine, self.kind, self.name, self.labels = engine, kind, name, labels
        self.attrs = {"Labels": labels}

    def remove(self, **options: Any) -> None:
        if self.kind == "network" and any(c.labels.get("net") == self.name for c in self.engine.containers.items):
            raise AssertionError(f"network {self.name} removed while a container still uses it")
        self.engine.removed.append((self.kind, self.name, options))
        getattr(self.engine, self.kind + "s").items.remove(self)


class FakeCollection:
    def __init__(self) -> None:
        self.items: list[FakeObject] = []

    def list(self, all: bool = False, filters: dict[str, str] | None = None) -> list[FakeObject]:
        wanted = (filters or {}).get("label")
        return [o for o in list(self.items) if wanted is None or wanted in o.labels]


class FakeEngine:
    def __init__(self) -> None:
        self.containers, self.networks, self.volumes = FakeCollection(), FakeCollection(), FakeCollection()
        self.removed: list[tuple[str, str, dict[str, Any]]] = []

    def add(self, kind: str, name: str, owner: Owner | None, **extra: str) -> None:
        labels = {**(owner.labels() if owner else {}), **extra}
        if owner is not None:
            labels[LABEL_RUN] = "run"
        getattr(self, kind + "s").items.append(FakeObject(self, kind, name, labels))


def alive_only_live(pid: int) -> str | None:
    return "5000" if pid == 100 else None


def engine_with_two_runs() -> FakeEngine:
    engine = FakeEngine()
    engine.add("network", "amqh-dead", DEAD)
    engine.add("container", "amqh-dead-amq1", DEAD, net="amqh-dead")
    engine.add("container", "amqh-live-amq1", LIVE, net="amqh-live")
    engine.add("network", "amqh-live", LIVE)
    engine.add("volume", "amqh-dead-store", DEAD)
    engine.add("container", "someone-elses", None)
    return engine


def test_prune_removes_only_what_dead_runs_left():
    engine = engine_with_two_runs()
    removed = prune(engine, this_host=HOST, start_time_of=alive_only_live, progress=lambda line: None)  # type: ignore[arg-type]
    assert (removed.containers, removed.networks, removed.volumes) == (
        ["amqh-dead-amq1"],
        ["amqh-dead"],
        ["amqh-dead-store"],
    )
    assert [o.name for o in engine.containers.items] == ["amqh-live-amq1", "someone-elses"]
    assert ("container", "amqh-dead-amq1", {"force": True, "v": True}) in engine.removed
    assert removed.summary() == "1 containers: amqh-dead-amq1; 1 networks: amqh-dead; 1 volumes: amqh-dead-store"


def test_prune_everything_also_removes_live_runs_but_never_others():
    engine = engine_with_two_runs()
    removed = prune(engine, everything=True, this_host=HOST, start_time_of=alive_only_live, progress=lambda _: None)  # type: ignore[arg-type]
    assert removed.count == 5
    assert [o.name for o in engine.containers.items] == ["someone-elses"]
