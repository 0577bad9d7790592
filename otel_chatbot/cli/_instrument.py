"""``otel-chatbot instrument -- uvicorn app:app``: ``opentelemetry-instrument`` with our distro and configurator."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from otel_chatbot import env
from otel_chatbot.telemetry._zero_code import ENTRY_POINT

Exec = Callable[[str, Sequence[str], Mapping[str, str]], object]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI: ``otel-chatbot instrument [--] COMMAND [ARGS...]``."""
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the program to run, e.g. uvicorn app:app")


def run(args: argparse.Namespace, *, execute: Exec | None = None) -> int:
    """CLI: exec ``opentelemetry-instrument COMMAND...`` with ``OTEL_PYTHON_DISTRO``/``_CONFIGURATOR=otel_chatbot``.

    Variables already set win; everything else is ``opentelemetry-instrument``'s (docs/zero-code.md).
    """
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("otel-chatbot instrument: give the command to run, e.g. otel-chatbot instrument -- uvicorn app:app")
        return 2
    launcher = _launcher()
    if launcher is None:
        print(
            "otel-chatbot instrument: opentelemetry-instrument is not installed: pip install 'otel-chatbot[fastapi]'",
            file=sys.stderr,
        )
        return 2
    environ = dict(os.environ)
    environ.setdefault(env.OTEL_PYTHON_DISTRO, ENTRY_POINT)
    environ.setdefault(env.OTEL_PYTHON_CONFIGURATOR, ENTRY_POINT)
    (execute or os.execve)(launcher, [launcher, *command], environ)
    return 0  # only reached with an injected ``execute``


def _launcher() -> str | None:
    """``opentelemetry-instrument`` of this interpreter's environment, else the one on ``PATH``."""
    beside = Path(sys.executable).with_name("opentelemetry-instrument")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("opentelemetry-instrument")
