#!/usr/bin/env bash
# Quick start, the project's own tests: set everything up, then lint, type-check, build the container
# images (offline, cached by content), run the unit and integration tests, run the HA, conformance and
# ordering suites on both vendors (real pybroker and real ActiveMQ) as local processes, with JDBC
# master/slave on real PostgreSQL and MariaDB, and the shared-file kill -9, partition and JDBC kill -9
# scenarios on both vendors in Docker containers; the comparison report shows every scenario per
# vendor and runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh
echo "== ruff"; "$PY" -m ruff check .
echo "== mypy"; "$PY" -m mypy harness fixtures
echo "== container images for --runtime docker (built offline from Debian packages; cached by content)"
"$PY" -m harness.cli images build
echo "== unit and integration tests"; "$PY" -m pytest tests -q
# Every suite runs even when an earlier one fails, so that the report shows all results.
suites_status=0
# JDBC scenarios run on PostgreSQL here and MariaDB gets kill -9 (both lockers); the nightly job (plain
# `pytest suites/ha --vendor pybroker --vendor activemq`) runs every scenario on both databases.
echo "== suites/ha (JDBC on PostgreSQL), suites/conformance and suites/ordering on pybroker and activemq"
"$PY" -m pytest suites/ha suites/conformance suites/ordering --vendor pybroker --vendor activemq \
  --database postgresql --results-dir reports/results --no-html-report -q --durations=5 || suites_status=$?
echo "== suites/ha JDBC on MariaDB: kill -9 with both lockers on pybroker and activemq"
"$PY" -m pytest suites/ha/test_jdbc_kill.py --database mariadb \
  --vendor pybroker --vendor activemq --results-dir reports/results --no-html-report -q || suites_status=$?
echo "== suites/ha in Docker containers: shared-file kill -9, partition and JDBC kill -9 on pybroker and activemq"
"$PY" -m pytest suites/ha/test_shared_file_kill.py suites/ha/test_shared_file_partition.py \
  suites/ha/test_jdbc_kill.py --runtime docker \
  -k "round_robin and 2-nodes or restarts_as_slave or partition or postgresql-database" \
  --vendor pybroker --vendor activemq --results-dir reports/results --no-html-report -q || suites_status=$?
"$PY" -m harness.cli report compare reports/results/results.jsonl -o reports/comparison.md
cat reports/comparison.md
# One HTML report of every suite above (each pytest run above skips its own: --no-html-report).
"$PY" -m harness.cli report html reports/results -o reports/index.html
exit "$suites_status"
