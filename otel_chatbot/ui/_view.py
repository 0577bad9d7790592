"""The view document the web view renders: a snapshot, its recommendations and the budgets, as JSON-ready data.

``view_document(snapshot)`` is a pure function of its arguments; ``budget_rows(guard)`` reads spend per budget window
from the ledger (the embedded case: ``STATE.budget_guard``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from otel_chatbot._redact import display_text
from otel_chatbot.report._recommendations import Recommendation, recommend

if TYPE_CHECKING:
    from otel_chatbot.spend._budgets import BudgetGuard
    from otel_chatbot.stats._snapshot import StatsSnapshot

__all__ = ["VIEW_FORMAT", "budget_rows", "view_document"]

logger = logging.getLogger(__name__)

VIEW_FORMAT = "otel-chatbot-view/1"
"""Written into every view document so readers can tell it from a bare snapshot."""

_TOP_KEYS = 10
"""Per-tenant / per-user budgets: how many of the keys that spent most are listed."""


def view_document(
    snapshot: StatsSnapshot,
    *,
    source: str | None = None,
    recommendations: Sequence[Recommendation] | None = None,
    budgets: Sequence[dict[str, Any]] = (),
    generated_at: float | None = None,
) -> dict[str, Any]:
    """The document ``GET <base>/api/view`` answers and ``report --html`` inlines (docs/ui.md).

    Args:
        snapshot: The statistics to show.
        source: Where they come from, in words (default: the snapshot's ``source``).
        recommendations: Precomputed recommendations (default: ``recommend(snapshot)``).
        budgets: ``budget_rows(...)`` output, when budgets are known.
        generated_at: Epoch seconds (default: now).

    Returns:
        ``{"format", "snapshot", "recommendations", "budgets", "source", "generated_at"}``, JSON-ready.
    """
    recs = recommend(snapshot) if recommendations is None else recommendations
    return {
        "format": VIEW_FORMAT,
        "snapshot": snapshot.to_dict(),
        "recommendations": [dataclasses.asdict(r) for r in recs],
        "budgets": list(budgets),
        "source": source or snapshot.source,
        "generated_at": time.time() if generated_at is None else generated_at,
    }


def budget_rows(guard: BudgetGuard | None, *, now: float | None = None) -> list[dict[str, Any]]:
    """Each budget with what was spent in its current window (from the ledger); [] without budgets.

    A global budget has ``spent_usd``; a per-tenant or per-user one lists the keys that spent most (``keys``) and
    ``spent_usd`` is the highest of them. A ledger that cannot be read gives ``spent_usd: None`` and an ``error``.
    """
    if guard is None:
        return []
    now = time.time() if now is None else now
    rows = []
    for budget in guard.budgets:
        row: dict[str, Any] = {
            "name": budget.name,
            "limit_usd": float(budget.limit_usd),
            "window": budget.window,
            "window_s": budget.window_s,
            "per": budget.per,
            "hard": budget.hard,
            "spent_usd": None,
            "keys": [],
        }
        since = now - budget.window_s
        try:
            if budget.per is None:
                row["spent_usd"] = guard.ledger.spend(since=since)
            else:
                usage = guard.ledger.usage(budget.per, since=since)[:_TOP_KEYS]
                row["keys"] = [{"key": u.key, "spent_usd": u.cost_usd} for u in usage]
                row["spent_usd"] = max((u.cost_usd for u in usage), default=0.0)
        except Exception as exc:  # the ledger's database is down: the page says so, the app goes on
            reason = display_text(str(exc))  # a driver's message may quote the connection URL
            logger.warning("otel_chatbot: cannot read the ledger for budget %r: %s", budget.name, reason)
            row["error"] = f"cannot read the ledger: {reason}"
        rows.append(row)
    return rows
