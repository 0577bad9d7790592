"""The ``otel-chatbot`` command: a thin dispatcher; each subcommand lives in the module that owns its concept.

Usage::

    otel-chatbot report [--format table|json|markdown] [SOURCE...]
    otel-chatbot usage --by user|tenant|model --since 7d
    otel-chatbot stack up|down|status
    otel-chatbot pricing MODEL [--provider P] [--input N --output N]
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> (module, help). Each module exposes ``add_arguments(parser)`` and ``run(args) -> int``; the module is
# imported only when its subcommand runs, so ``otel-chatbot --help`` stays fast and optional extras stay optional.
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "report": ("otel_chatbot._cli_report", "print the bottleneck report (table, JSON or Markdown)"),
    "usage": ("otel_chatbot._cli_usage", "token and USD usage from the ledger"),
    "stack": ("otel_chatbot.stack", "build, start, stop the native Collector / Jaeger / Prometheus stack"),
    "pricing": ("otel_chatbot.pricing", "look up a model's price and the cost of a call"),
}


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    parser = argparse.ArgumentParser(prog="otel-chatbot", description="OpenTelemetry monitoring for LLM chatbots.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    wanted = _wanted_command()
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name != wanted:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            runners[name] = _missing(name, exc)
            continue
        module.add_arguments(sub_parser)
        runners[name] = module.run
    return parser, runners


_ARGV: list[str] = []


def _wanted_command() -> str | None:
    return next((a for a in _ARGV if not a.startswith("-")), None)


def _missing(name: str, exc: ModuleNotFoundError) -> Callable[[argparse.Namespace], int]:
    def run(_: argparse.Namespace) -> int:
        print(
            f"otel-chatbot {name}: needs the missing module {exc.name!r}; pip install 'otel-chatbot[dev]'",
            file=sys.stderr,
        )
        return 2

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``otel-chatbot`` command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit code.
    """
    global _ARGV
    _ARGV = list(sys.argv[1:] if argv is None else argv)
    parser, runners = _build_parser()
    args = parser.parse_args(_ARGV)
    if args.command is None:
        parser.print_help()
        return 2
    return runners[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
