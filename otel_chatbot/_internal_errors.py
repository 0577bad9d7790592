"""One place that decides what happens when otel_chatbot itself fails: log, never break the user's request."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

from otel_chatbot import env

logger = logging.getLogger("otel_chatbot")

T = TypeVar("T")

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


def drain_each(pop: Callable[[], T], handle: Callable[[T], object]) -> None:
    """``handle`` every item ``pop`` gives until it raises ``IndexError`` (a deque's ``popleft``), in order; an item
    whose handling fails is logged and the rest are still handled (one bad span never costs a whole batch)."""
    while True:
        try:
            item = pop()
        except IndexError:
            return
        try:
            handle(item)
        except Exception:
            log_internal_error()
