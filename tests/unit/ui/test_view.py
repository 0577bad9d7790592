"""The view document: the snapshot as to_dict() writes it, recommendations, budgets with spend from the ledger."""

from __future__ import annotations

import json
import time
from pathlib import Path

from otel_chatbot import semconv
from otel_chatbot.report._recommendations import recommend
from otel_chatbot.spend._budgets import Budget, BudgetGuard
from otel_chatbot.spend._ledger import Ledger, LedgerEntry
from otel_chatbot.stats._snapshot import StatsSnapshot
from otel_chatbot.ui._view import VIEW_FORMAT, budget_rows, view_document
from tests._embedded_helpers import TraceBuilder, generation_attrs, stage_attrs


def slow_generation(n: int = 30) -> StatsSnapshot:
    tb = TraceBuilder()
    for i in range(n):
        with tb.request(1000, start_ms=i * 2000) as req:
            req.stage("retrieval", 1, 50, stage_attrs("retrieval"))
            req.stage("generation", 60, 900, generation_attrs(cost=0.00045))
    snap: StatsSnapshot = tb.snapshot()
    return snap


def test_the_document_carries_the_snapshot_and_its_recommendations() -> None:
    snap = slow_generation()
    doc = view_document(snap, generated_at=123.0)
    assert doc["format"] == VIEW_FORMAT
    assert doc["generated_at"] == 123.0
    assert doc["source"] == snap.source
    assert StatsSnapshot.from_dict(doc["snapshot"]) == snap  # the page reads exactly what a dump holds
    rules = [r["rule"] for r in doc["recommendations"]]
    assert rules == [r.rule for r in recommend(snap)]
    assert "generation_share" in rules
    gen = next(r for r in doc["recommendations"] if r["rule"] == "generation_share")
    assert gen["trace_ids"] and all(len(t) == 32 for t in gen["trace_ids"])
    assert doc["budgets"] == []
    assert json.loads(json.dumps(doc)) == json.loads(json.dumps(doc, sort_keys=True))  # JSON-ready as it is


def test_an_empty_snapshot_is_a_valid_document() -> None:
    doc = view_document(StatsSnapshot(service_name="bot", generated_at=1.0), source="nothing yet")
    assert doc["source"] == "nothing yet"
    assert doc["recommendations"] == []
    assert json.loads(json.dumps(doc))["snapshot"]["stages"] == []


def test_budget_rows_read_spend_per_window_from_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "usage.db"))
    try:
        now = time.time()
        rows = [
            LedgerEntry(ts=now - 60, model="m", cost_usd=0.25, tenant="acme"),
            LedgerEntry(ts=now - 120, model="m", cost_usd=0.5, tenant="globex"),
            LedgerEntry(ts=now - 7200, model="m", cost_usd=4.0, tenant="acme"),  # outside the 1 h window
        ]
        for entry in rows:
            ledger.append(entry)
        assert ledger.flush(5)
        guard = BudgetGuard(
            [Budget(limit_usd=1, window="1h"), Budget(limit_usd=2, window="1d", per="tenant", hard=True)],
            ledger,
            alerts=[],
        )
        hourly, daily = budget_rows(guard, now=now)
    finally:
        ledger.close()
    assert hourly["name"] == "soft $1/1h" and hourly["per"] is None and hourly["window_s"] == 3600.0
    assert abs(hourly["spent_usd"] - 0.75) < 1e-9
    assert daily["hard"] is True and daily["per"] == "tenant"
    assert [(k["key"], round(k["spent_usd"], 9)) for k in daily["keys"]] == [("acme", 4.25), ("globex", 0.5)]
    assert abs(daily["spent_usd"] - 4.25) < 1e-9
    assert budget_rows(None) == []


def test_a_ledger_that_cannot_be_read_is_said_in_the_row(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "usage.db"))
    guard = BudgetGuard([Budget(limit_usd=1, window="1h")], ledger, alerts=[])
    ledger.close()  # a closed database: reads fail
    (row,) = budget_rows(guard)
    assert row["spent_usd"] is None
    assert row["error"].startswith("cannot read the ledger")


def test_recommendation_trace_ids_are_the_snapshots() -> None:
    snap = slow_generation()
    gen = snap.stage(semconv.Stage.GENERATION.value)
    assert gen is not None
    doc = view_document(snap)
    rec = next(r for r in doc["recommendations"] if r["rule"] == "generation_share")
    assert tuple(rec["trace_ids"]) == gen.latency.slowest_trace_ids
