#!/usr/bin/env bash
# Quick start, the project's own tests: set everything up, then lint, type-check, run the unit and
# integration tests, and run the HA suites on both vendors (real pybroker and real ActiveMQ).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh
echo "== ruff"; "$PY" -m ruff check .
echo "== mypy"; "$PY" -m mypy harness fixtures
echo "== unit and integration tests"; "$PY" -m pytest tests -q
echo "== suites/ha on pybroker and activemq"
"$PY" -m pytest suites/ha --vendor pybroker --vendor activemq --results-dir reports/results -q
"$PY" -m harness.cli report compare reports/results/results.jsonl -o reports/comparison.md
cat reports/comparison.md
