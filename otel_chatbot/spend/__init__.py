"""What calls cost: prices, the usage ledger and budgets.

Example::

    from otel_chatbot.spend import Budget, WebhookAlert

    oc.configure(
        "support-bot",
        ledger="usage.sqlite",
        budgets=[Budget(limit_usd=50, window="1d", per="tenant", hard=True)],
        budget_alerts=[WebhookAlert("http://127.0.0.1:9000/hook")],
    )

Prices come from the bundled ``genai-prices`` data with user overrides on top; costs are ``Decimal`` until rendered.
"""

from __future__ import annotations

from otel_chatbot.spend._budgets import Budget, BudgetAlert, BudgetGuard, WebhookAlert, check_budget, log_alert
from otel_chatbot.spend._ledger import Ledger, LedgerEntry, UsageRow
from otel_chatbot.spend._pricing import ModelPrice, PricingTable, TokenUsage, compute_cost, default_table

__all__ = [
    "Budget",
    "BudgetAlert",
    "BudgetGuard",
    "Ledger",
    "LedgerEntry",
    "ModelPrice",
    "PricingTable",
    "TokenUsage",
    "UsageRow",
    "WebhookAlert",
    "check_budget",
    "compute_cost",
    "default_table",
    "log_alert",
]
