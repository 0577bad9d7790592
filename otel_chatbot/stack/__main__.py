"""``python -m otel_chatbot.stack build|up|down|status`` (what ``scripts/_stack_install.sh`` calls)."""

from __future__ import annotations

import argparse
import sys

from otel_chatbot.stack import add_arguments, run


def main() -> int:
    """Parse ``sys.argv`` and run the stack action."""
    parser = argparse.ArgumentParser(prog="python -m otel_chatbot.stack")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
