"""Report: one JSON result per scenario (a line of results.jsonl) and the cross-vendor comparison."""

from harness.report.results import ScenarioResult, read_results, write_result

__all__ = ["ScenarioResult", "read_results", "write_result"]
