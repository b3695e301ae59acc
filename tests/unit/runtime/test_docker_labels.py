"""Names, labels and ownership of what the docker runtime creates; no engine is needed."""

from __future__ import annotations

from pathlib import Path

from harness.runtime.docker_labels import (
    LABEL_OWNER_PID,
    LABEL_RUN,
    Owner,
    container_name,
    is_leftover,
    loopback_port_binding,
    network_name,
    node_command,
    owner_alive,
    process_start_time,
)

HOST = "ci-machine"
ALIVE = Owner(HOST, 100, "5000")


def start_times(known: dict[int, str]):
    return lambda pid: known.get(pid)


def labels_of(owner: Owner) -> dict[str, str]:
    return {**owner.labels(), LABEL_RUN: "run1"}


def test_names_are_valid_docker_names():
    assert network_name("ab12cd-ef") == "amqh-ab12cd-ef"
    assert container_name("ab12cd-ef", "amq1") == "amqh-ab12cd-ef-amq1"
    assert container_name("c", "node one/x") == "amqh-c-node-one-x"


def test_ports_are_published_on_loopback_only():
    assert loopback_port_binding(45613) == {"61613/tcp": ("127.0.0.1", 45613)}


def test_the_node_command_logs_the_marker_then_execs_the_broker():
    command = node_command("---- start amq1 ----", ["java", "-jar", "a b.jar"])
    assert command[:2] == ["sh", "-c"]
    assert 'exec "$@"' in command[2]
    assert command[3:] == ["---- start amq1 ----", "java", "-jar", "a b.jar"]


def test_owner_labels_round_trip():
    assert Owner.from_labels(labels_of(ALIVE)) == ALIVE
    assert Owner.from_labels({LABEL_RUN: "x"}) is None
    assert Owner.from_labels({**labels_of(ALIVE), LABEL_OWNER_PID: "not-a-pid"}) is None


def test_an_owner_is_alive_while_its_pid_has_the_same_start_time():
    assert owner_alive(ALIVE, HOST, start_times({100: "5000"}))
    assert not owner_alive(ALIVE, HOST, start_times({}))  # gone
    assert not owner_alive(ALIVE, HOST, start_times({100: "9999"}))  # pid reused by another process


def test_an_owner_on_another_host_is_assumed_alive():
    assert owner_alive(Owner("elsewhere", 100, "5000"), HOST, start_times({}))


def test_leftovers_are_the_harness_objects_of_dead_owners():
    dead = Owner(HOST, 200, "7")
    times = start_times({100: "5000"})
    assert is_leftover(labels_of(dead), HOST, times)
    assert not is_leftover(labels_of(ALIVE), HOST, times)
    assert not is_leftover({"com.example.other": "1"}, HOST, times, everything=True)  # not ours
    assert is_leftover({LABEL_RUN: "run1"}, HOST, times)  # ours, owner unknown
    assert is_leftover(labels_of(ALIVE), HOST, times, everything=True)


def test_process_start_time_reads_field_22_after_the_command_name(tmp_path: Path):
    (tmp_path / "42").mkdir()
    fields = ["S", *[str(n) for n in range(4, 22)], "123456", "0"]
    (tmp_path / "42" / "stat").write_text(f"42 (a) weird) name) {' '.join(fields)}\n")
    assert process_start_time(42, tmp_path) == "123456"
    assert process_start_time(43, tmp_path) is None


def test_this_process_is_its_own_live_owner():
    me = Owner.current()
    assert me.start != "unknown"
    assert owner_alive(me, me.host)
