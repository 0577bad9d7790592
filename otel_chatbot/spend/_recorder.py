"""What ``configure(ledger=..., budgets=...)`` installs: a span processor feeding the ledger, and the budget guard."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_chatbot import env, semconv
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot._sdk import span_attributes
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend._budgets import AlertCallback, Budget, BudgetGuard
from otel_chatbot.spend._ledger import Ledger, LedgerEntry

logger = logging.getLogger(__name__)


class UsageRecorder(SpanProcessor):
    """Appends every priced stage span (tokens or cost) to the ledger; the append is a non-blocking queue put."""

    def __init__(self, ledger: Ledger, service_name: str) -> None:
        self.ledger = ledger
        self.service_name = service_name

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        try:
            get = span_attributes(span).get
            stage = get(semconv.CHATBOT_STAGE) or get(semconv.CHATBOT_USAGE_STAGE)
            if stage is None or get(semconv.CHATBOT_USAGE_DEFERRED):
                # The accounting processor in front of this one gives every counted call a stage (another
                # instrumentation's span too) and flags the spans that deferred to an inner one: one row per call.
                return
            cost = get(semconv.GEN_AI_USAGE_COST_AMOUNT)
            inp = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
            out = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
            if cost is None and inp is None and out is None:
                return
            ctx = span.context
            self.ledger.append(
                LedgerEntry(
                    (span.end_time or time.time_ns()) / 1e9,
                    f"{ctx.trace_id:032x}" if ctx is not None else "",
                    self.service_name,
                    str(stage),
                    str(get(semconv.GEN_AI_REQUEST_MODEL) or get(semconv.GEN_AI_RESPONSE_MODEL) or ""),
                    str(get(semconv.GEN_AI_PROVIDER_NAME) or ""),
                    # as given: the ledger checks them and rejects (logs, counts) a row whose numbers it cannot hold
                    inp or 0,
                    out or 0,
                    cost or 0.0,
                    str(get(semconv.CHATBOT_TENANT_ID) or ""),
                    str(get(semconv.USER_ID) or ""),
                    str(get(semconv.GEN_AI_CONVERSATION_ID) or ""),
                    str(get(semconv.CHATBOT_VARIANT) or ""),
                    *_cost_origin(get(semconv.GEN_AI_USAGE_COST_SOURCE), get(semconv.CHATBOT_COST_PRICE_VERSION), cost),
                )
            )
        except Exception:
            log_internal_error()

    def shutdown(self) -> None:
        self.ledger.close(timeout=5.0)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.ledger.flush(timeout_millis / 1000)


def _cost_origin(source: object, version: object, cost: object) -> tuple[str, str]:
    """(cost_source, price_version) of a ledger row: a provider-reported cost has no price version."""
    if cost is None:
        return "", ""
    if source == "provider":
        return "provider", ""
    return str(source or "local"), str(version or "")


@dataclass
class Accounting:
    """The ledger pieces of one ``configure()`` call."""

    service_name: str
    ledger: Ledger | None = None
    guard: BudgetGuard | None = None

    @property
    def processors(self) -> Sequence[SpanProcessor]:
        return () if self.ledger is None else (UsageRecorder(self.ledger, self.service_name),)


def setup(
    service_name: str,
    *,
    ledger: str | Ledger | None,
    budget_list: Sequence[Budget],
    alerts: Sequence[AlertCallback] | None,
    retention: str | float | None = None,
) -> Accounting:
    """Open the ledger (argument, else ``OTEL_CHATBOT_LEDGER``) and build the budget guard; raises on mistakes."""
    target = ledger if ledger is not None else env.ledger_url()
    if budget_list and target is None:
        logger.warning(
            "configure(budgets=...) without a ledger: spend is kept in memory and lost on restart; "
            "pass ledger='usage.db' or a postgresql:// URL"
        )
        target = ":memory:"
    if target is None:
        return Accounting(service_name)
    try:
        opened = target if isinstance(target, Ledger) else Ledger.open(target, retention=retention)
    except ConfigurationError as exc:
        if ledger is not None:
            raise
        raise ConfigurationError(f"{env.OTEL_CHATBOT_LEDGER}: {exc}") from None  # name the variable at fault
    guard = BudgetGuard(budget_list, opened, alerts=alerts) if budget_list else None
    return Accounting(service_name, opened, guard)
