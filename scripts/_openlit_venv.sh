#!/usr/bin/env bash
# Creates .venv-openlit for tests/instrumentations/scenario_openlit.py, idempotently (called by scripts/test).
# OpenLIT pins OpenTelemetry 1.45.1 and older openai/anthropic SDKs exactly, so it cannot share .venv: this one holds
# openlit, our runtime dependencies at the versions .venv resolved (genai-prices must price exactly like the test's
# oracle) and otel_chatbot itself (--no-deps, editable). Re-installs when the pins or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv-openlit"
MAIN="${OTEL_CHATBOT_VENV:-.venv}"
PY="${PYTHON:-python3}"
version() { "$MAIN/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))"; }
want="openlit==1.45.0 genai-prices==$(version genai-prices) ddsketch==$(version ddsketch)"
stamp="$VENV/.otel-chatbot-installed"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ ! pyproject.toml -nt "$stamp" ]; then
  exit 0
fi
echo "== installing $want into $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q $want
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -c "import openlit, otel_chatbot.spend"  # fails here, not in a test, when the two do not import
echo "$want" > "$stamp"
