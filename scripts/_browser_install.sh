#!/usr/bin/env bash
# Debian's Chromium for the real-browser tests (tests/integration/ui/, marker `browser`), installed only when missing;
# idempotent and instant when it is there. Playwright (a pinned dev dependency, installed by scripts/_venv.sh) drives
# this /usr/bin/chromium through executable_path: never `playwright install`, which downloads a browser build of its
# own (no such download works on a closed network, and Debian's build gets security updates with the system).
# Another Chromium: set CHATBOT_CHROMIUM=/path/to/chromium and this script does nothing.
# The tests never skip: without a browser they fail and say what is missing.
set -euo pipefail
if [ -n "${CHATBOT_CHROMIUM:-}" ]; then
  if [ ! -x "$CHATBOT_CHROMIUM" ]; then
    echo "_browser_install.sh: CHATBOT_CHROMIUM=$CHATBOT_CHROMIUM is not an executable file" >&2
    exit 1
  fi
  exit 0
fi
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no /usr/bin/chromium and no apt-get: install Chromium with your package manager and set" \
    "CHATBOT_CHROMIUM=/path/to/chromium (the browser tests need it)" >&2
  exit 1
fi
echo "== installing Debian packages: chromium"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: chromium recommends fonts, a sandbox helper and desktop integration; headless needs none of
# them (the fonts it depends on are installed with it).
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
