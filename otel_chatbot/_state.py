"""The process state: one object holding what ``configure()`` installed and what the span code reads on every call.

``STATE`` is created once and never replaced, so modules bind it at import (``from otel_chatbot._state import
STATE``) and read it with plain attribute access: the decorators applied before ``configure()`` ran (or when it never
runs) see what it installs, with no function call or lock on the span path. ``reset()`` returns it to the state of a
fresh process (tests call it after each test).

What it holds, each in one place:

- ``content``: the content-capture settings, a frozen value replaced whole (a span never sees half of two calls);
- ``prices``: the price table (None: built from ``OTEL_CHATBOT_PRICES_FILE`` and the bundled data on first use);
- ``budget_guard``: the ``BudgetGuard`` of ``configure(budgets=...)``, read by ``check_budget`` and by
  ``traced_stage(..., enforce_budget=True)``;
- ``installed``: the TracerProvider ``configure()`` installed or extended, with its fan-out processor and sampler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import TracerProvider

from otel_chatbot import env
from otel_chatbot._sdk import FanOut

if TYPE_CHECKING:
    from otel_chatbot.spend._budgets import BudgetGuard
    from otel_chatbot.spend._pricing import PricingTable
    from otel_chatbot.telemetry._configure import SwitchSampler

__all__ = ["STATE", "ContentSettings", "Installed", "State", "no_redaction", "reset"]


def no_redaction(text: str) -> str:
    return text


@dataclass(frozen=True)
class ContentSettings:
    """Whether prompts and responses are captured, and how they are cut and redacted."""

    capture_content: bool = False
    max_content_length: int = env.DEFAULT_MAX_CONTENT_LENGTH
    redact: Callable[[str], str] = no_redaction
    legacy_dup: bool = False
    """Also write the attribute names of the previous release (``OTEL_CHATBOT_SEMCONV_COMPAT=legacy/dup``)."""

    @classmethod
    def from_env(cls) -> ContentSettings:
        """The settings without ``configure()``: from the environment (warn-and-default)."""
        return cls(
            capture_content=env.capture_content(),
            max_content_length=env.max_content_length(),
            legacy_dup=env.semconv_legacy_dup(),
        )


@dataclass(frozen=True)
class Installed:
    """What ``configure()`` put into the process, once: the provider and the switches inside it."""

    provider: TracerProvider
    fan_out: FanOut
    sampler: SwitchSampler | None  # None: the provider is the user's, whose sampler is not ours to switch
    service_name: str | None  # None: the user's provider (its resource is theirs)


class State:
    """The process state (see the module docstring); ``STATE`` is the one instance."""

    __slots__ = ("budget_guard", "content", "installed", "prices")

    def __init__(self) -> None:
        self.content = ContentSettings.from_env()
        self.prices: PricingTable | None = None
        self.budget_guard: BudgetGuard | None = None
        self.installed: Installed | None = None

    def reset(self) -> None:
        """Back to a fresh process: settings from the environment, no price table, no guard, nothing installed.

        The processors of a previous ``configure()`` are detached from its provider (not shut down), and OTel's own
        global provider is left alone (``otel_chatbot.testing.reset_trace_globals`` resets it).
        """
        installed = self.installed
        if installed is not None:
            installed.fan_out.replace(())
        from otel_chatbot import _scopes

        _scopes.OPEN.clear()
        self.installed = None
        self.budget_guard = None
        self.prices = None
        self.content = ContentSettings.from_env()
        from otel_chatbot import _values

        _values.set_max_attribute_length(_values.DEFAULT_MAX_ATTRIBUTE_LENGTH)
        _values.reset_warnings()


STATE = State()
"""The process state."""


def reset() -> None:
    """``STATE.reset()`` (tests)."""
    STATE.reset()
