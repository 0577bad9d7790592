"""``python -m otel_chatbot.stack build|up|down|status``: the same as ``otel-chatbot stack ...``."""

from __future__ import annotations

import sys

from otel_chatbot.cli import main

if __name__ == "__main__":
    sys.exit(main(["stack", *sys.argv[1:]]))
