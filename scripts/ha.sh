#!/usr/bin/env bash
# Quick start, the main job: set everything up, then run the HA suites (default: pybroker, local).
# Extra arguments go to pytest, e.g.: bash scripts/ha.sh --vendor pybroker --vendor activemq
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Four workers (pytest-xdist): each scenario's cluster, ports, databases and directories are its worker's
# own, so scenarios cannot disturb each other. A scenario mostly waits (faults held, lock and lease
# intervals, the drain's idle time): one run of the suite used 3.5 CPU-minutes in 8.5 minutes on two
# workers, so four clusters at once still leave a 2-core machine half idle. `-n 0` (or -n N) overrides it.
exec "${PYTHON:-python3}" -m pytest suites/ha -n 4 "$@"
