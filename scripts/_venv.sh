# Sourced by scripts/test and scripts/demo: create .venv and install the project with its dev extras, idempotently.
# Re-installs only when pyproject.toml changed since the last install.
VENV="${OTEL_CHATBOT_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.otel-chatbot-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing .[dev] into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
