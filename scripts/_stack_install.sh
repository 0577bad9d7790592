#!/usr/bin/env bash
# Install what the native stack needs from Debian (Prometheus, when missing) and build or reuse its three binaries
# (otelcol-chatbot; Jaeger v2, its release archive with the UI when it can be downloaded (sha256 pinned; offline, one
# line, then built from source); Prometheus found on PATH) in the cache outside the repository
# (${OTEL_CHATBOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-chatbot}). Idempotent: seconds when warm.
# Called by ./scripts/test and ./scripts/demo --stack with the virtualenv active.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${OTEL_CHATBOT_PROMETHEUS_BINARY:-}" ]; then
  scripts/_embedded_install.sh prometheus
fi
# Go installed from go.dev lives here when it is not on PATH yet
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
exec python -m otel_chatbot.stack build
