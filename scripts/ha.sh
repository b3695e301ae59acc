#!/usr/bin/env bash
# Quick start, the main job: set everything up, then run the HA suites (default: pybroker, local).
# Extra arguments go to pytest, e.g.: bash scripts/ha.sh --vendor pybroker --vendor activemq
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m pytest suites/ha "$@"
