"""Process-wide settings that ``configure()`` resolves once and the span code reads on every call.

Reading one module attribute is the cheapest way to share configuration with decorators that were applied before
``configure()`` ran (and that must keep working when it never runs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_chatbot import env


def _default_redact(text: str) -> str:
    return text


@dataclass
class Runtime:
    """What the span code needs to know; replaced as a whole by ``configure()``."""

    capture_content: bool = False
    max_content_length: int = env.DEFAULT_MAX_CONTENT_LENGTH
    redact: Callable[[str], str] = _default_redact
    # Called with the stage span's start attributes before a generation call when ``enforce_budget=True``;
    # raises BudgetExceededError. Installed by configure(budgets=...).
    budget_guard: Callable[[Mapping[str, Any]], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _from_env() -> Runtime:
    return Runtime(capture_content=env.capture_content(), max_content_length=env.max_content_length())


RUNTIME: Runtime = _from_env()
"""The settings in force. Without ``configure()`` they come from the environment (warn-and-default)."""


def install(runtime: Runtime) -> None:
    """Make ``runtime`` the settings in force."""
    global RUNTIME
    RUNTIME = runtime


def reset() -> None:
    """Back to the environment's settings (tests)."""
    install(_from_env())
