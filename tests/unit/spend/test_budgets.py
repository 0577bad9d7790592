"""Budgets: rolling windows under an injected clock, soft alerts once per window, hard caps, webhook delivery."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.errors import BudgetExceededError, ConfigurationError
from otel_chatbot.spend import _budgets as budgets
from otel_chatbot.spend._budgets import Budget, BudgetAlert, BudgetGuard, WebhookAlert, check_budget
from otel_chatbot.spend._ledger import Ledger, LedgerEntry
from tests._servers import serve_json

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.open(str(tmp_path / "usage.db"))
    yield opened
    opened.close()


def spend(ledger: Ledger, ts: float, usd: float, *, tenant: str = "acme", user: str = "u1") -> None:
    ledger.append(LedgerEntry(ts=ts, tenant=tenant, user=user, cost_usd=usd))
    assert ledger.flush(30)


def test_budget_validation() -> None:
    assert Budget(limit_usd=5, window="1h").window_s == 3600
    assert Budget(limit_usd=5, window="30d", per="tenant", hard=True).name == "hard $5/30d per tenant"
    for bad in (dict(limit_usd=0), dict(limit_usd=1, window="daily"), dict(limit_usd=1, per="team")):
        with pytest.raises(ConfigurationError):
            Budget(**bad)


def test_hard_window_rolls_over(ledger: Ledger) -> None:
    clock = Clock()
    guard = BudgetGuard([Budget(limit_usd=1.0, window="1h", hard=True)], ledger, alerts=[], clock=clock)
    spend(ledger, T0, 0.6)
    guard.check()
    spend(ledger, T0 + 600, 0.5)  # 1.1 in the last hour
    with pytest.raises(BudgetExceededError) as info:
        guard.check()
    assert (info.value.key, info.value.limit_usd, info.value.window) == ("*", 1.0, "1h")
    assert info.value.spent_usd == pytest.approx(1.1)
    clock.now = T0 + 3599
    with pytest.raises(BudgetExceededError):
        guard.check()
    clock.now = T0 + 3601  # the first 0.6 left the window: 0.5 spent
    guard.check()
    clock.now = T0 + 600 + 3601  # everything left the window
    guard.check()


def test_day_and_thirty_day_windows(ledger: Ledger) -> None:
    clock = Clock()
    daily = Budget(limit_usd=10, window="1d", hard=True)
    monthly = Budget(limit_usd=25, window="30d", hard=True)
    guard = BudgetGuard([daily, monthly], ledger, alerts=[], clock=clock)
    for day in range(3):  # $9.5 a day, under the daily limit, on three days
        spend(ledger, T0 + day * 86400, 9.5)
    clock.now = T0 + 2 * 86400 + 1
    with pytest.raises(BudgetExceededError) as info:  # 28.5 in 30 days
        guard.check()
    assert info.value.window == "30d"
    clock.now = T0 + 30 * 86400 + 1  # day 0 left the 30-day window: 19
    guard.check()


def test_per_tenant_and_per_user_keys(ledger: Ledger) -> None:
    guard = BudgetGuard(
        [
            Budget(limit_usd=1, window="1d", per="tenant", hard=True),
            Budget(limit_usd=0.5, window="1d", per="user", hard=True),
        ],
        ledger,
        alerts=[],
        clock=Clock(),
    )
    spend(ledger, T0, 1.0, tenant="acme", user="u1")
    with pytest.raises(BudgetExceededError) as info:
        guard.check(tenant_id="acme", user_id="u2")
    assert info.value.key == "acme"
    guard.check(tenant_id="globex", user_id="u2")
    with pytest.raises(BudgetExceededError) as info:
        guard.check(tenant_id="globex", user_id="u1")
    assert info.value.key == "u1"
    guard.check()  # no ids: per-key budgets do not apply


def test_soft_alerts_once_per_window_with_span_event(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    received: list[BudgetAlert] = []
    guard = BudgetGuard(
        [Budget(limit_usd=1.0, window="1h", per="tenant")],
        ledger,
        alerts=[received.append, budgets.log_alert],
        clock=clock,
    )
    exporter = InMemorySpanExporter()
    oc.configure("budget-bot", embedded=False, span_processors=[SimpleSpanProcessor(exporter)])
    tracer = trace.get_tracer("t")
    spend(ledger, T0, 2.0)  # the writer-thread check alerts as soon as the spend lands
    assert [(a.key, a.spent_usd) for a in received] == [("acme", 2.0)]
    with tracer.start_as_current_span("request"):
        guard.check(tenant_id="acme")  # soft: no exception; already alerted in this window
    clock.now = T0 + 1800
    spend(ledger, T0 + 1800, 1.0)
    assert len(received) == 1
    clock.now = T0 + 3601  # a new window: spend in it is 1.0 (>= limit) → one new alert, with a span event
    with tracer.start_as_current_span("request"):
        guard.check(tenant_id="acme")
        guard.check(tenant_id="acme")
    assert len(received) == 2 and received[1].spent_usd == pytest.approx(1.0)
    events = [e for s in exporter.get_finished_spans() for e in s.events]
    assert [e.name for e in events] == [semconv.CHATBOT_BUDGET_EVENT]
    assert dict(events[0].attributes or {})[semconv.CHATBOT_BUDGET_KEY] == "acme"
    assert "otel-chatbot budget 'soft $1/1h per tenant' for tenant acme" in caplog.text


def test_webhook_alert_is_received_by_a_local_server(ledger: Ledger) -> None:
    bodies: list[dict[str, Any]] = []
    got = threading.Event()

    def hook(path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        bodies.append({"path": path, **json.loads(body)})
        got.set()
        return 200, {"ok": True}

    with serve_json(hook) as url:
        guard = BudgetGuard(
            [Budget(limit_usd=0.01, window="1d")], ledger, alerts=[WebhookAlert(f"{url}/slack")], clock=Clock()
        )
        spend(ledger, T0, 0.02)
        guard.check()
        assert got.wait(30), "the webhook was never called"
    (body,) = bodies
    assert body["path"] == "/slack"
    assert body["text"].startswith("otel-chatbot budget 'soft $0.01/1d'")
    assert body["budget"]["spent_usd"] == 0.02 and body["budget"]["limit_usd"] == 0.01


def test_webhook_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    alert = BudgetAlert(Budget(limit_usd=1), "*", 2.0, T0)
    hook = WebhookAlert("http://127.0.0.1:9/none", timeout=2)
    hook._post(json.dumps(hook.payload(alert)).encode())
    assert "budget webhook" in caplog.text


def test_configure_installs_the_guard_for_traced_stage_and_check_budget(tmp_path: Path) -> None:
    calls: list[str] = []

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai", enforce_budget=True)
    def generate() -> dict[str, object]:
        calls.append("llm")
        return {"usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0}}  # $0.15 at gpt-4o-mini prices

    tel = oc.configure(
        "capped",
        ledger=str(tmp_path / "u.db"),
        budgets=[oc.Budget(limit_usd=0.2, window="1d", per="tenant", hard=True)],
    )
    with oc.conversation(tenant_id="acme"):
        generate()
        oc.check_budget()  # 0.15 < 0.2
        generate()  # now 0.30
        with pytest.raises(BudgetExceededError):
            oc.check_budget()
        with pytest.raises(BudgetExceededError):
            generate()
    assert calls == ["llm", "llm"]  # refused before the LLM call
    oc.check_budget(tenant_id="globex")
    tel.shutdown()


def test_check_budget_without_configure_is_a_no_op() -> None:
    check_budget(tenant_id="acme")


def test_budgets_without_a_ledger_warn_and_keep_spend_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        tel = oc.configure("mem", budgets=[Budget(limit_usd=1)])
    assert "without a ledger" in caplog.text
    tel.shutdown()


def test_after_shutdown_budgets_are_not_enforced(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "u.db"))
    guard = BudgetGuard([Budget(limit_usd=0.01, hard=True)], ledger, alerts=[], clock=Clock())
    spend(ledger, T0, 1.0)
    with pytest.raises(BudgetExceededError):
        guard.check()
    ledger.close()
    guard.check()  # a closed ledger: no enforcement, and no error from the closed database


def test_an_unreachable_ledger_fails_open(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    guard = BudgetGuard([Budget(limit_usd=0.01, hard=True)], ledger, alerts=[], clock=Clock())

    def down(**kwargs: object) -> float:
        raise OSError("database down")

    monkeypatch.setattr(ledger, "spend", down)
    monkeypatch.setenv("OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS", "1")  # behave as in production, not as under pytest
    guard.check()
    assert "internal error in otel_chatbot" in caplog.text
