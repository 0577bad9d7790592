"""The only exceptions otel_chatbot raises into user code."""

from __future__ import annotations

__all__ = ["BudgetExceededError", "ConfigurationError", "OtelChatbotError"]


class OtelChatbotError(Exception):
    """Base class of every exception otel_chatbot raises."""


class ConfigurationError(OtelChatbotError, ValueError):
    """A setup mistake (bad price file, bad endpoint URL, unknown environment value), raised at configure time."""


class BudgetExceededError(OtelChatbotError):
    """A hard budget is spent; raised before the LLM call so no money is spent past the limit.

    Attributes:
        key: The budget key (``"*"`` for a global budget, else the tenant or user id).
        spent_usd: Spend in the current window.
        limit_usd: The budget's limit.
        window: The window, e.g. ``"1d"``.
    """

    def __init__(
        self, message: str, *, key: str = "*", spent_usd: float = 0.0, limit_usd: float = 0.0, window: str = ""
    ) -> None:
        super().__init__(message)
        self.key = key
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        self.window = window
