#!/usr/bin/env bash
# Quick start, the main job: set everything up, then run the HA suites (default: pybroker, local).
# Extra arguments go to pytest, e.g.: bash scripts/ha.sh --vendor pybroker --vendor activemq
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two workers (pytest-xdist): each scenario's cluster, ports, databases and directories are its worker's
# own, so scenarios cannot disturb each other; `-n 0` (or -n N) overrides it.
exec "${PYTHON:-python3}" -m pytest suites/ha -n 2 "$@"
