#!/usr/bin/env bash
# Debian packages the embedded-statistics tests need (issue 3), installed only when missing; idempotent:
#   promtool (package prometheus)      validates the /metrics exposition  (also installed by the stack's build)
#   initdb/pg_ctl (package postgresql)  a real PostgreSQL on loopback for the usage-ledger tests
# The tests never skip: without these they fail and say what is missing.
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "== installing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: prometheus recommends node-exporter; neither package's service is used (tests run the
# binaries themselves on loopback).
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
