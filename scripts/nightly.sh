#!/usr/bin/env bash
# Nightly: the full scenario matrix on both vendors, including what CI (scripts/test.sh) leaves out.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh
status=0
echo "== suites/network: every network-of-brokers scenario on pybroker and activemq"
"$PY" -m pytest suites/network --vendor pybroker --vendor activemq --results-dir reports/nightly -q || status=$?
"$PY" -m harness.cli report compare reports/nightly/results.jsonl -o reports/nightly-comparison.md
exit "$status"
