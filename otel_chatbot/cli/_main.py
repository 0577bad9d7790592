"""The ``otel-chatbot`` command: a thin dispatcher over one module per subcommand.

Usage::

    otel-chatbot report [--format table|json|markdown] [SOURCE...]
    otel-chatbot usage --by user|tenant|model --since 7d
    otel-chatbot ui [FILE | --url APP_URL | --jaeger URL --prometheus URL --service NAME] [--port 8765]
    otel-chatbot stack build|up|down|status
    otel-chatbot pricing MODEL [--provider P] [--input N --output N]
    otel-chatbot instrument -- uvicorn app:app
    otel-chatbot --version
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from otel_chatbot._version import __version__

# subcommand -> (module, help). Each module exposes ``add_arguments(parser)`` and ``run(args) -> int``. Only the
# module of the subcommand being run is imported, so ``otel-chatbot --help`` stays fast and extras stay optional.
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "report": ("otel_chatbot.cli._report", "print the bottleneck report (table, JSON or Markdown)"),
    "usage": ("otel_chatbot.cli._usage", "token and USD usage from the ledger"),
    "ui": ("otel_chatbot.cli._ui", "serve the web view of latency, cost, traces and conversations"),
    "stack": ("otel_chatbot.cli._stack", "build, start, stop the native Collector / Jaeger / Prometheus stack"),
    "pricing": ("otel_chatbot.cli._pricing", "look up a model's price and the cost of a call"),
    "instrument": ("otel_chatbot.cli._instrument", "run a program under opentelemetry-instrument with our distro"),
}


def _build_parser(wanted: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-chatbot", description="OpenTelemetry monitoring for LLM chatbots.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name != wanted:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            sub_parser.add_argument("rest", nargs=argparse.REMAINDER)
            sub_parser.set_defaults(func=_missing(name, exc))
            continue
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(func=module.run)
    return parser


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
    arguments = list(sys.argv[1:] if argv is None else argv)
    wanted = next((a for a in arguments if not a.startswith("-")), None)
    parser = _build_parser(wanted)
    args = parser.parse_args(arguments)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return func(args)
