#!/usr/bin/env bash
# Quick start, the project's own tests: set everything up, then lint, type-check, run the unit and
# integration tests, and run the HA, conformance and ordering suites on both vendors (real pybroker
# and real ActiveMQ); the comparison report shows every scenario per vendor.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh
echo "== ruff"; "$PY" -m ruff check .
echo "== mypy"; "$PY" -m mypy harness fixtures
echo "== unit and integration tests"; "$PY" -m pytest tests -q
# One run for all suites, so that a failing one does not hide the others' results from the report.
echo "== suites/ha, suites/conformance and suites/ordering on pybroker and activemq"
suites_status=0
"$PY" -m pytest suites/ha suites/conformance suites/ordering --vendor pybroker --vendor activemq \
  --results-dir reports/results -q --durations=5 || suites_status=$?
"$PY" -m harness.cli report compare reports/results/results.jsonl -o reports/comparison.md
cat reports/comparison.md
exit "$suites_status"
