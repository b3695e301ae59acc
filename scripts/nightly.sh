#!/usr/bin/env bash
# The nightly matrix: every suite on both vendors (pybroker and ActiveMQ Classic), as local processes and
# in Docker containers, JDBC scenarios on both PostgreSQL and MariaDB; then one merged HTML report, the
# comparison (Markdown and JSON), what changed verdict since the previous night, and allure results.
# .github/workflows/nightly.yml runs the same jobs in parallel, one per runner, and this script's report
# step on what they produced.
#
#   bash scripts/nightly.sh                  every job, one after another on this machine, then the report
#   bash scripts/nightly.sh jobs             the job names (the workflow's matrix lists the same)
#   bash scripts/nightly.sh run JOB          one job: reports/nightly/JOB/{results,allure}
#   bash scripts/nightly.sh report [DIR...]  the report of results directories (default: every job's here)
#   bash scripts/nightly.sh sweep FIRST LAST the false-positive sweep with seeds FIRST..LAST (jobs sweep1/2;
#                                            SWEEP_WORKERS scenarios at once, default 4)
#
# NIGHTLY_DIR (default reports/nightly) is where everything goes; NIGHTLY_PREVIOUS, a results directory of
# an earlier night (e.g. last night's reports/nightly/merged), adds changes.md and changes.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${NIGHTLY_DIR:-reports/nightly}
JOBS=(ha-local ha-jdbc-postgresql-local ha-jdbc-mariadb-local other-suites-local
  ha-docker ha-jdbc-postgresql-docker ha-jdbc-mariadb-docker other-suites-docker sweep1-local sweep2-local
  chaos-local chaos-docker soak-local)
# The false-positive sweep: suites/ha and suites/ordering on pybroker, once per seed (1-20, in two jobs of
# ten so that each fits a runner's time). pybroker keeps every promise these scenarios check, so any red
# result is a checker or a scenario that cries wolf.
SWEEP_HALF=10
# Scenarios of one seed at once, as scripts/ha.sh runs them: they mostly wait, so four share 2 cores.
SWEEP_WORKERS=${SWEEP_WORKERS:-4}

# Seeded chaos (suites/chaos): every topology for the default --chaos-duration (60 s) with the night's seed,
# and in containers, where partitions join the mix, the shared-file and JDBC pairs. The soak job runs the
# shared-file pair for 30 minutes per vendor and prints its throughput per 10 s window.
SOAK_DURATION=${SOAK_DURATION:-30m}

# The pytest arguments of one job (in ARGS): the shared-file and other HA scenarios, the JDBC ones per
# database (so each database's servers start on one runner), and every suite besides suites/ha.
job_args() {
  local job=$1 runtime=${1##*-}
  case "${job%-*}" in
    ha) ARGS=(suites/ha -k "not jdbc") ;;
    ha-jdbc-postgresql) ARGS=(suites/ha -k jdbc --database postgresql) ;;
    ha-jdbc-mariadb) ARGS=(suites/ha -k jdbc --database mariadb) ;;
    other-suites) ARGS=(suites --ignore=suites/ha --ignore=suites/chaos) ;;
    chaos) ARGS=(suites/chaos)
      [ "$runtime" = docker ] && ARGS+=(-k "shared_file_pair_under_chaos or jdbc_pair_under_chaos") ;;
    soak) ARGS=(suites/chaos/test_chaos.py::test_shared_file_pair_under_chaos --chaos-duration "$SOAK_DURATION") ;;
    sweep1 | sweep2) ARGS=(suites/ha suites/ordering) ;;
    *) echo "nightly: unknown job '$job' (jobs: ${JOBS[*]})" >&2; return 2 ;;
  esac
  ARGS+=(--runtime "$runtime")
  if [[ "${job%-*}" == sweep* ]]; then ARGS+=(--vendor pybroker); else ARGS+=(--vendor pybroker --vendor activemq); fi
}

# A sweep job: the same scenarios once per seed FIRST..LAST, every result in the job's results directory.
sweep() {
  local first=$1 last=$2 job=${3:-sweep-local} status=0 seed
  job_args sweep1-local
  for seed in $(seq "$first" "$last"); do
    echo "== nightly sweep, seed $seed ($first..$last): pytest ${ARGS[*]} --seed $seed -n $SWEEP_WORKERS"
    "$PY" -m pytest "${ARGS[@]}" --seed "$seed" -n "$SWEEP_WORKERS" --results-dir "$OUT/$job/results" \
      --no-html-report -q -p no:cacheprovider || status=$?
  done
  "$PY" - "$OUT/$job/results/results.jsonl" <<'SUMMARY'
import json, sys
from collections import Counter
results = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
verdicts = Counter(r["verdict"] for r in results)
print(f"sweep: {len(results)} scenario runs on pybroker: " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))
for r in results:
    if r["verdict"] in ("fail", "error"):
        print(f"  {r['verdict']}: {r['scenario']} seed {r['seed']}: {(r['problems'] or [r.get('reason')])[0]}")
SUMMARY
  return "$status"
}

# Throughput and the harness's memory over time of each soak run (its result line's chaos.throughput and
# chaos.rss_mb; a soak streams its history to disk, so memory should stay flat), and how it ended.
soak_summary() {
  [ -f "$1" ] || return 0
  "$PY" - "$1" <<'SOAK'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    chaos = r.get("chaos") or {}
    windows = chaos.get("throughput") or []
    print(f"soak: {r['scenario']}: {r['verdict']}, {chaos.get('started', 0)} faults started, "
          f"{chaos.get('faults_exercised', '?')} of them on a serving cluster "
          f"(held {chaos.get('held_s', 0)} s in all while it did not serve), "
          f"{r['figures'].get('attempted', 0)} sends, {chaos.get('history_ops', 0)} ops recorded; "
          f"receipted sends/s per {chaos.get('throughput_window_s')} s:")
    print("  " + " ".join(f"{w['sent_per_s']:.0f}" for w in windows))
    rss = chaos.get("rss_mb")
    if rss:
        print(f"  harness memory (RSS, MB): start {rss['start']}, max {rss['max']}, end {rss['end']} of the run, "
              f"{rss.get('after_check')} after checking; largest per window:")
        print("  " + " ".join("-" if w.get("rss_mb") is None else f"{w['rss_mb']:.0f}" for w in windows))
SOAK
}

run_job() {
  local job=$1 status=0
  case "${job%-*}" in
    sweep1) sweep 1 "$SWEEP_HALF" "$job"; return ;;
    sweep2) sweep $((SWEEP_HALF + 1)) $((2 * SWEEP_HALF)) "$job"; return ;;
  esac
  job_args "$job"
  echo "== nightly job $job: pytest ${ARGS[*]}"
  "$PY" -m pytest "${ARGS[@]}" --results-dir "$OUT/$job/results" --alluredir "$OUT/$job/allure" \
    --no-html-report -q -p no:cacheprovider --durations=10 || status=$?
  [ "${job%-*}" = soak ] && soak_summary "$OUT/$job/results/results.jsonl"
  # 5: the job selected no scenario (a suite without JDBC scenarios, say): nothing to report, no failure.
  [ "$status" -eq 5 ] && { echo "nightly: job $job ran no scenario"; status=0; }
  if [ "$job" = other-suites-docker ]; then
    # The harness's own slower tests (marker nightly, left out of CI): ActiveMQ from homes and images of
    # the user's own, side by side.
    echo "== nightly job $job: pytest tests -m nightly"
    "$PY" -m pytest tests -m nightly -q -p no:cacheprovider || status=$?
  fi
  return "$status"
}

report() {
  local dirs=("$@")
  if [ ${#dirs[@]} -eq 0 ]; then
    for job in "${JOBS[@]}"; do
      [ -f "$OUT/$job/results/results.jsonl" ] && dirs+=("$OUT/$job/results")
    done
  fi
  if [ ${#dirs[@]} -eq 0 ]; then
    echo "nightly: no results to report (run a job first: bash scripts/nightly.sh run ha-local)" >&2
    return 2
  fi
  local started=$SECONDS
  "$PY" -m harness.cli report merge "${dirs[@]}" -o "$OUT/merged"
  local screenshot=()
  command -v chromium >/dev/null 2>&1 && screenshot=(--screenshot "$OUT/index.png")
  "$PY" -m harness.cli report html "$OUT/merged" -o "$OUT/index.html" --title "amq-harness nightly" "${screenshot[@]}"
  "$PY" -m harness.cli report compare "$OUT/merged" -o "$OUT/comparison.md"
  "$PY" -m harness.cli report compare "$OUT/merged" --format json -o "$OUT/comparison.json"
  if [ -n "${NIGHTLY_PREVIOUS:-}" ] && [ -e "$NIGHTLY_PREVIOUS" ]; then
    "$PY" -m harness.cli report changes "$NIGHTLY_PREVIOUS" "$OUT/merged" -o "$OUT/changes.md"
    "$PY" -m harness.cli report changes "$NIGHTLY_PREVIOUS" "$OUT/merged" --format json -o "$OUT/changes.json"
  fi
  # Every job's allure results in one directory, with the run's environment and categories.
  local allure_dirs=()
  for dir in "$OUT"/*/allure; do [ -d "$dir" ] && allure_dirs+=("$dir"); done
  if [ ${#allure_dirs[@]} -gt 0 ]; then
    mkdir -p "$OUT/allure-results"
    for dir in "${allure_dirs[@]}"; do cp -r "$dir"/. "$OUT/allure-results/"; done
    "$PY" -m harness.cli report allure-metadata "$OUT/merged" -o "$OUT/allure-results"
  fi
  echo "nightly: report step took $((SECONDS - started)) s"
}

case "${1:-all}" in
  jobs) printf '%s\n' "${JOBS[@]}" ;;
  run) [ $# -eq 2 ] || { echo "usage: $0 run JOB" >&2; exit 2; }; run_job "$2" ;;
  report) shift; report "$@" ;;
  sweep) [ $# -eq 3 ] || { echo "usage: $0 sweep FIRST_SEED LAST_SEED" >&2; exit 2; }; sweep "$2" "$3" ;;
  all)
    bash scripts/setup.sh
    "$PY" -m harness.cli images build
    overall=0
    for job in "${JOBS[@]}"; do run_job "$job" || overall=$?; done
    report
    exit "$overall"
    ;;
  *) echo "usage: $0 [jobs | run JOB | report [RESULTS_DIR...] | sweep FIRST_SEED LAST_SEED]" >&2; exit 2 ;;
esac
