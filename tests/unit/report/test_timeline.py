from harness.report.timeline import FaultWindow, build_timeline

from .histories import failover_history


def test_lanes_are_the_client_processes_and_marks_their_completions():
    timeline = build_timeline(failover_history())
    assert timeline.lanes == ("1", "2", "3")
    outcomes = {(m.lane, m.type, m.f) for m in timeline.marks}
    assert ("1", "fail", "send") in outcomes
    assert ("3", "info", "send") in outcomes
    assert ("2", "ok", "receive") in outcomes
    assert not [m for m in timeline.marks if m.type == "invoke"], "invocations are not marks"


def test_fault_window_runs_from_start_to_heal_and_is_labelled_with_fault_and_target():
    timeline = build_timeline(failover_history())
    assert timeline.faults == (FaultWindow("kill amq1", 1000.0, 1500.0),)


def test_a_fault_never_healed_has_an_open_window():
    ops = [op for op in failover_history() if op.f != "stop"]
    (window,) = build_timeline(ops).faults
    assert window.end_ms is None


def test_master_per_probe_round_follows_the_probes():
    timeline = build_timeline(failover_history())
    assert [r.masters for r in timeline.masters] == [("amq1",), ("amq1",), ("amq2",), ("amq2",)]
    assert timeline.nodes == ("amq1", "amq2")


def test_a_round_with_two_accepting_nodes_shows_both_masters():
    timeline = build_timeline(failover_history(split_brain_round=True))
    assert timeline.masters[-1].masters == ("amq1", "amq2")


def test_send_latency_is_invoke_to_receipt_for_receipted_sends_only():
    timeline = build_timeline(failover_history())
    assert [(p.process, p.time_ms, p.latency_ms) for p in timeline.latencies] == [("1", 10.0, 5.0), ("3", 1600.0, 50.0)]


def test_throughput_counts_receipted_sends_and_deliveries_per_second_in_bins():
    timeline = build_timeline(failover_history(), rate_bin_ms=1000)
    assert [(p.time_ms, p.sends_per_s, p.receives_per_s) for p in timeline.rates] == [
        (0.0, 1.0, 1.0),
        (1000.0, 1.0, 1.0),
        (2000.0, 0.0, 0.0),
    ]


def test_an_empty_history_gives_an_empty_timeline():
    timeline = build_timeline([])
    assert timeline.marks == () and timeline.duration_ms == 0.0


def test_consecutive_rounds_with_the_same_master_are_drawn_as_one_span():
    from harness.report.plots import master_spans

    spans = master_spans(build_timeline(failover_history(split_brain_round=True)))
    assert spans == [(0.0, 1200.0, ("amq1",)), (1200.0, 2000.0, ("amq2",)), (2000.0, 2500.0, ("amq1", "amq2"))]
