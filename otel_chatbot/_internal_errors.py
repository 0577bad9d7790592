"""One place that decides what happens when otel_chatbot itself fails: log, never break the user's request."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from otel_chatbot import env

logger = logging.getLogger("otel_chatbot")

_MESSAGE = "internal error in otel_chatbot; your code is unaffected"


def _under_pytest() -> bool:
    # Like logfire's log_internal_error: bugs in our own telemetry code must fail our tests, not hide in a log.
    return "PYTEST_CURRENT_TEST" in os.environ and not os.environ.get(env.OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS)


def log_internal_error() -> None:
    """Log the exception being handled (or re-raise it under pytest)."""
    if _under_pytest():
        raise
    logger.exception(_MESSAGE)


@contextlib.contextmanager
def handle_internal_errors() -> Iterator[None]:
    """Run telemetry work; an ``Exception`` inside is logged and swallowed (re-raised under pytest)."""
    try:
        yield
    except Exception:
        log_internal_error()
