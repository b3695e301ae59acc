#!/usr/bin/env bash
# Installs what amq-harness needs on a Debian machine, skipping what is already there:
#   - Debian packages (as root): Apache ActiveMQ Classic and a Java runtime for it; PostgreSQL and
#     MariaDB servers (throwaway instances for JDBC master/slave), their JDBC drivers and Commons DBCP
#     (the data source ActiveMQ's activemq.xml names; Debian's activemq only links to it) for ActiveMQ;
#     ZooKeeper (an ensemble for replicated master/slave; its jars in /usr/share/java);
#     debootstrap, which makes the Debian root file system the container images are built from;
#     chromium, headless, in which the HTML report is tested and screenshotted;
#   - the project itself and its Python dependencies (pip, editable install).
# Safe to run again: each step checks first and says what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(activemq postgresql mariadb-server libpostgresql-jdbc-java libmariadb-java libcommons-dbcp-java
  libcommons-pool-java zookeeper debootstrap chromium)
PYTHON=${PYTHON:-python3}

say() { printf 'setup: %s\n' "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}; run this script as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present: ${APT_PACKAGES[*]}, java"
fi

# The editable install is redone only when pyproject.toml changed since the last one.
stamp=build/.setup-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
installed_at=$("$PYTHON" -c 'import os, amq_harness_fixtures as f; print(os.path.dirname(os.path.dirname(f.__file__)))' 2>/dev/null || true)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ "$installed_at" = "$PWD" ]; then
  say "Python package amq-harness present (editable)"
else
  say "installing amq-harness and its Python dependencies (pip install -e .[dev])"
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[dev]"
  mkdir -p build && echo "$want" > "$stamp"
fi
say "ready"
