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
echo "== ruff"; "$PY" -m ruff check . && "$PY" -m ruff format --check .
echo "== mypy"; "$PY" -m mypy harness fixtures
echo "== the nightly workflow against GitHub's workflow schema (the copy check-jsonschema bundles; no network)"
offline=(); [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 && offline=(unshare --net)
"${offline[@]}" "$PY" -m check_jsonschema --builtin-schema vendor.github-workflows .github/workflows/nightly.yml
echo "== container images for --runtime docker (built offline from Debian packages; cached by content)"
"$PY" -m harness.cli images build
echo "== unit and integration tests (the slower ones, marker nightly, run in scripts/nightly.sh)"
"$PY" -m pytest tests -q -m "not nightly"
# Every suite runs even when an earlier one fails, so that the report shows all results.
suites_status=0
# The network scenarios CI runs: one per topology (static, fan-out, multicast; the combined topology's
# is suites/ha/test_network_combined.py, run with suites/ha). The rest run nightly.
NETWORK_CI="remote_consumer or fan_out_feeds or multicast_network"
# The replicated (ZooKeeper) scenarios CI leaves to the nightly job: a slave killed then paused, the master
# paused past the session, a full restart, one ZooKeeper node lost. CI runs the master kill per sync mode,
# no master without a quorum of brokers or of ZooKeeper nodes, and the master cut from ZooKeeper (pybroker;
# ActiveMQ 5.17 reports them unsupported).
REPLICATED_NIGHTLY="replicated_slave_killed or replicated_master_paused or replicated_full_restart or replicated_one_zookeeper"
# JDBC scenarios run on PostgreSQL here and MariaDB gets kill -9 (both lockers); the nightly job (plain
# `pytest suites/ha --vendor pybroker --vendor activemq`) runs every scenario on both databases.
echo "== suites/ha (JDBC on PostgreSQL), suites/conformance and suites/ordering on pybroker and activemq"
# The link-fault scenarios run one per fault family here (the line after); the nightly job runs them all.
"$PY" -m pytest suites/ha suites/conformance suites/ordering --vendor pybroker --vendor activemq \
  --ignore=suites/ha/test_client_isolation.py --ignore=suites/ha/test_jdbc_link_blackhole.py \
  --ignore=suites/ha/test_link_toxics.py --ignore=suites/ha/test_backlog_failover_extended.py \
  -k "not ($REPLICATED_NIGHTLY)" \
  --database postgresql --results-dir reports/results --no-html-report -q --durations=5 || suites_status=$?
echo "== suites/ha link faults through Toxiproxy: clients cut off the master, database link blackholed, link reset"
"$PY" -m pytest suites/ha/test_client_isolation.py suites/ha/test_jdbc_link_blackhole.py suites/ha/test_link_toxics.py \
  -k "cut_from_its_clients and shared-file or database_locker and postgresql or reset_peer and shared-file" \
  --vendor pybroker --vendor activemq --results-dir reports/results --no-html-report -q || suites_status=$?
echo "== suites/ha JDBC on MariaDB: kill -9 with both lockers on pybroker and activemq"
"$PY" -m pytest suites/ha/test_jdbc_kill.py --database mariadb \
  --vendor pybroker --vendor activemq --results-dir reports/results --no-html-report -q || suites_status=$?
echo "== in Docker containers: shared-file kill -9, partition, JDBC kill -9 and a cut bridge between two brokers on pybroker and activemq"
"$PY" -m pytest suites/ha/test_shared_file_kill.py suites/ha/test_shared_file_partition.py \
  suites/ha/test_jdbc_kill.py suites/network/test_bridge_faults.py --runtime docker \
  -k "round_robin and 2-nodes or restarts_as_slave or partition or postgresql-database or cut_bridge_between_two" \
  --vendor pybroker --vendor activemq --results-dir reports/results --no-html-report -q || suites_status=$?
echo "== suites/network: one scenario per network topology on pybroker and activemq (the rest: scripts/nightly.sh)"
"$PY" -m pytest suites/network -k "$NETWORK_CI" --vendor pybroker --vendor activemq \
  --results-dir reports/results --no-html-report -q || suites_status=$?
echo "== suites/chaos: the shared-file and JDBC pairs under 30 s of seeded chaos on pybroker and activemq (the rest: nightly)"
"$PY" -m pytest suites/chaos -k "shared_file_pair_under_chaos or jdbc_pair_under_chaos" --chaos-duration 30s \
  --vendor pybroker --vendor activemq --results-dir reports/results --no-html-report -q || suites_status=$?
"$PY" -m harness.cli report compare reports/results/results.jsonl -o reports/comparison.md
cat reports/comparison.md
# nightly.sh's report step on CI's own results (each pytest run above skips its own: --no-html-report):
# reports/nightly/index.html (+ index.png), comparison.md/.json, merged results, allure metadata.
echo "== report step of scripts/nightly.sh on these results"
PYTHON="$PY" bash scripts/nightly.sh report reports/results
exit "$suites_status"
