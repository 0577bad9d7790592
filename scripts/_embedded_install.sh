#!/usr/bin/env bash
# Debian packages the tests and the native stack need, installed only when missing; idempotent. Library code never
# installs system packages: this script does (with sudo when not root).
#   prometheus  prometheus + promtool: the native stack's Prometheus, and /metrics exposition checks
#   postgresql  initdb/pg_ctl: a real PostgreSQL on loopback for the usage-ledger tests
# Usage: scripts/_embedded_install.sh [prometheus] [postgresql]   (no argument: both)
# The tests never skip: without these they fail and say what is missing.
set -euo pipefail
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(prometheus postgresql)
missing=()
for package in "${wanted[@]}"; do
  case "$package" in
    prometheus)
      if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
        missing+=(prometheus)
      fi ;;
    postgresql)
      if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        missing+=(postgresql)
      fi ;;
    *) echo "_embedded_install.sh: unknown package '$package' (prometheus or postgresql)" >&2; exit 2 ;;
  esac
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${missing[*]} and no apt-get: install them with your package manager" \
    "(for Prometheus, or set OTEL_CHATBOT_PROMETHEUS_BINARY=/path/to/prometheus)" >&2
  exit 1
fi
echo "== installing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
# policy-rc.d "101" keeps the packages' services from starting during the install: the tests and the stack run the
# binaries themselves, on their own loopback ports (a started prometheus.service would take 9090).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  $SUDO sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: prometheus recommends node-exporter, which nothing here uses.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
