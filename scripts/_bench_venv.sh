#!/usr/bin/env bash
# Creates .venv-bench for benchmarks/bench_peers.py, idempotently (called by scripts/bench).
# The peers (OpenLIT, OpenLLMetry's traceloop-sdk, Langfuse: the `bench` extra in pyproject.toml) pin OpenTelemetry
# 1.45.1/0.66b1, so they cannot share .venv (1.45.2). This one holds the three peers at the `bench` extra's pins with
# the OpenTelemetry pins they agree on, our runtime dependencies at the versions .venv resolved, the openai SDK at
# .venv's version (the pydantic-response row must measure the same object; OpenLIT declares openai<3, pip warns about
# that and we accept it: OpenLIT's openai wrapper is not on any measured path) and otel_chatbot itself (--no-deps,
# editable). Re-installs when the pins or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv-bench"
MAIN="${OTEL_CHATBOT_VENV:-.venv}"
PY="${PYTHON:-python3}"
version() { "$MAIN/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))"; }
# The peers' pins: pyproject.toml's `bench` extra (one source).
peers="$("$MAIN/bin/python" -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench']))")"
otel="opentelemetry-api==1.45.1 opentelemetry-sdk==1.45.1 opentelemetry-instrumentation==0.66b1"
otel="$otel opentelemetry-semantic-conventions==0.66b1"
ours="genai-prices==$(version genai-prices) ddsketch==$(version ddsketch)"
sdk="openai==$(version openai)"
want="$peers $otel $ours $sdk"
stamp="$VENV/.otel-chatbot-installed"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ ! pyproject.toml -nt "$stamp" ]; then
  exit 0
fi
echo "== installing $want into $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q $peers $otel $ours
# A second step: in the first one pip refuses openai>=3 (OpenLIT declares openai<3).
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q $sdk 2>&1 | grep -v -e "openlit .* requires openai" -e "dependency resolver does not" || true
"$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('openai') == '${sdk#openai==}', m.version('openai')"
"$VENV/bin/python" -m pip install -q --no-deps -e .
# Fails here, not in the benchmark, when they do not import together.
"$VENV/bin/python" -c "import openlit, traceloop.sdk, langfuse, openai, otel_chatbot.spend"
echo "$want" > "$stamp"
