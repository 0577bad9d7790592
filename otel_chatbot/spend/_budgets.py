"""Spend budgets over rolling windows, read from the usage ledger: soft limits alert, hard limits refuse the call.

Example::

    tel = oc.configure(
        "support-bot",
        ledger="postgresql://bot@127.0.0.1/usage",
        budgets=[
            oc.Budget(limit_usd=50, window="1d"),  # soft: one alert per day
            oc.Budget(limit_usd=5, window="1d", per="tenant", hard=True),  # hard: BudgetExceededError
        ],
        budget_alerts=[WebhookAlert("https://hooks.slack.com/services/...")],
    )
    oc.check_budget(tenant_id="acme")  # or traced_stage("generation", ..., enforce_budget=True)

Spend in a window is the sum of the ledger rows in ``[now - window, now]``. Because it is read from the ledger, a
budget holds across restarts and across every process that shares one PostgreSQL ledger. Soft alerts fire at most
once per window per budget and key in each process, through the alert callbacks and as a ``chatbot.budget.exceeded``
span event on the current span.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry import trace

from otel_chatbot import semconv
from otel_chatbot._durations import parse_duration
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot._redact import display_origin, display_text
from otel_chatbot._state import STATE
from otel_chatbot.errors import BudgetExceededError, ConfigurationError
from otel_chatbot.spans._conversation import current_attributes
from otel_chatbot.spend._ledger import Ledger, LedgerEntry
from otel_chatbot.spend._money import format_usd

__all__ = ["Budget", "BudgetAlert", "BudgetGuard", "WebhookAlert", "check_budget", "log_alert"]

logger = logging.getLogger(__name__)

GLOBAL_KEY = "*"


@dataclass(frozen=True)
class Budget:
    """A spend limit over a rolling window, global or per tenant or per user.

    Args:
        limit_usd: The limit, in USD.
        window: ``"1h"``, ``"1d"``, ``"30d"`` (any ``N`` + ``s/m/h/d/w`` works).
        per: None for one budget over everything, ``"tenant"`` or ``"user"`` for one per id.
        hard: True: refuse calls (``BudgetExceededError``) once spent; False: alert only.
        name: Shown in alerts (default: derived from the other fields).
    """

    limit_usd: float
    window: str = "1d"
    per: Literal["tenant", "user"] | None = None
    hard: bool = False
    name: str = ""
    window_s: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.limit_usd > 0:
            raise ConfigurationError(f"Budget limit_usd must be > 0, not {self.limit_usd!r}")
        if self.per not in (None, "tenant", "user"):
            raise ConfigurationError(f"Budget per must be None, 'tenant' or 'user', not {self.per!r}")
        try:
            object.__setattr__(self, "window_s", parse_duration(self.window))
        except ValueError as exc:
            raise ConfigurationError(f"Budget window: {exc}") from None
        if not self.name:
            scope = f" per {self.per}" if self.per else ""
            object.__setattr__(
                self, "name", f"{'hard' if self.hard else 'soft'} ${self.limit_usd:g}/{self.window}{scope}"
            )

    def key(self, tenant_id: str | None, user_id: str | None) -> str | None:
        """The key this call counts against (None: the budget does not apply, e.g. per tenant without a tenant)."""
        if self.per is None:
            return GLOBAL_KEY
        return tenant_id if self.per == "tenant" else user_id


@dataclass(frozen=True)
class BudgetAlert:
    """What an alert callback receives."""

    budget: Budget
    key: str
    spent_usd: float
    at: float

    @property
    def message(self) -> str:
        """One line for people."""
        who = "" if self.key == GLOBAL_KEY else f" for {self.budget.per} {self.key}"
        return (
            f"otel-chatbot budget '{self.budget.name}'{who}: {format_usd(self.spent_usd)} spent in the last "
            f"{self.budget.window} (limit ${self.budget.limit_usd:g})"
        )


AlertCallback = Callable[[BudgetAlert], None]


def log_alert(alert: BudgetAlert) -> None:
    """The default alert callback: one WARNING log line."""
    logger.warning("%s", alert.message)


class WebhookAlert:
    """POST alerts as Slack-compatible JSON (``{"text": ...}`` plus the numbers) to a webhook URL.

    Sent from a daemon thread, so an alert never delays a request; failures are logged.

    Args:
        url: The webhook (a Slack incoming webhook, or anything that takes JSON).
        timeout: Seconds per POST.
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"WebhookAlert({display_origin(self.url)!r}, timeout={self.timeout})"

    def payload(self, alert: BudgetAlert) -> dict[str, Any]:
        """The JSON body."""
        return {
            "text": alert.message,
            "budget": {
                "name": alert.budget.name,
                "key": alert.key,
                "spent_usd": round(alert.spent_usd, 6),
                "limit_usd": alert.budget.limit_usd,
                "window": alert.budget.window,
                "hard": alert.budget.hard,
                "at": alert.at,
            },
        }

    def __call__(self, alert: BudgetAlert) -> None:
        """Send ``alert`` in the background."""
        body = json.dumps(self.payload(alert)).encode()
        threading.Thread(target=self._post, args=(body,), name="otel-chatbot-webhook", daemon=True).start()

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except Exception as exc:
            reason = display_text(str(exc), self.url, urllib.parse.urlsplit(self.url).path)
            logger.warning("otel_chatbot: budget webhook %s failed: %s", display_origin(self.url), reason)


class BudgetGuard:
    """Checks budgets against the ledger; ``configure(budgets=...)`` installs one as ``STATE.budget_guard``.

    Args:
        budgets: The budgets.
        ledger: Where spend is read from.
        alerts: Alert callbacks (default: ``log_alert``).
        clock: Wall clock (injected in tests).
    """

    def __init__(
        self,
        budgets: Sequence[Budget],
        ledger: Ledger,
        *,
        alerts: Sequence[AlertCallback] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.budgets = tuple(budgets)
        self.ledger = ledger
        self.alerts = tuple(alerts) if alerts is not None else (log_alert,)
        self.clock = clock
        self._last_alert: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()
        ledger.add_listener(self.on_written)

    def _spent(self, budget: Budget, key: str, now: float) -> float:
        since = now - budget.window_s
        if budget.per == "tenant":
            return self.ledger.spend(since=since, tenant=key)
        if budget.per == "user":
            return self.ledger.spend(since=since, user=key)
        return self.ledger.spend(since=since)

    def _alert(self, index: int, budget: Budget, key: str, spent: float, now: float) -> BudgetAlert | None:
        with self._lock:
            last = self._last_alert.get((index, key))
            if last is not None and now - last < budget.window_s:
                return None  # one alert per window per budget and key
            self._last_alert[(index, key)] = now
        alert = BudgetAlert(budget, key, spent, now)
        for callback in self.alerts:
            try:
                callback(alert)
            except Exception:
                logger.exception("otel_chatbot: a budget alert callback failed")
        return alert

    def check(self, *, tenant_id: str | None = None, user_id: str | None = None) -> None:
        """Raise ``BudgetExceededError`` if a hard budget is spent; alert (once per window) on soft ones.

        Raises:
            BudgetExceededError: A hard budget that applies to this tenant/user is spent.
        """
        if self.ledger.closed:
            return  # after Telemetry.shutdown(): nothing is recorded any more, so nothing is enforced
        now = self.clock()
        # This process's own recent spend counts too: wait for the writer, but never long on the request path (a
        # stalled database must not stall the chatbot; what is still queued then counts at the next check).
        self.ledger.flush(timeout=0.25)
        for index, budget in enumerate(self.budgets):
            key = budget.key(tenant_id, user_id)
            if key is None:
                continue
            try:
                spent = self._spent(budget, key, now)
            except Exception:
                # The ledger's database is unreachable: telemetry must not take the chatbot down, so the call
                # goes ahead (fail open) and the error is logged.
                log_internal_error()
                continue
            if spent < budget.limit_usd:
                continue
            if self._alert(index, budget, key, spent, now) is not None:
                span = trace.get_current_span()
                if span.is_recording():
                    span.add_event(
                        semconv.CHATBOT_BUDGET_EVENT,
                        {
                            semconv.CHATBOT_BUDGET_NAME: budget.name,
                            semconv.CHATBOT_BUDGET_KEY: key,
                            semconv.CHATBOT_BUDGET_SPENT_USD: spent,
                            semconv.CHATBOT_BUDGET_LIMIT_USD: float(budget.limit_usd),
                            semconv.CHATBOT_BUDGET_WINDOW: budget.window,
                            semconv.CHATBOT_BUDGET_HARD: budget.hard,
                        },
                    )
            if budget.hard:
                raise BudgetExceededError(
                    f"budget '{budget.name}' is spent: {format_usd(spent)} of ${budget.limit_usd:g} in the last "
                    f"{budget.window}" + ("" if key == GLOBAL_KEY else f" for {budget.per} {key}"),
                    key=key,
                    spent_usd=spent,
                    limit_usd=budget.limit_usd,
                    window=budget.window,
                )

    def guard(self, attributes: Mapping[str, Any]) -> None:
        """What ``traced_stage(..., enforce_budget=True)`` calls: ``check`` with the span's tenant and user ids."""
        tenant, user = attributes.get(semconv.CHATBOT_TENANT_ID), attributes.get(semconv.USER_ID)
        self.check(tenant_id=None if tenant is None else str(tenant), user_id=None if user is None else str(user))

    def on_written(self, entries: Iterable[LedgerEntry]) -> None:
        """After ledger writes (writer thread): alert on soft budgets that the new spend crossed."""
        now = self.clock()
        touched = {(e.tenant or None, e.user or None) for e in entries}
        for index, budget in enumerate(self.budgets):
            keys = {budget.key(t, u) for t, u in touched} - {None}
            for key in sorted(k for k in keys if k is not None):
                spent = self._spent(budget, key, now)
                if spent >= budget.limit_usd:
                    self._alert(index, budget, key, spent, now)


def check_budget(*, tenant_id: str | None = None, user_id: str | None = None) -> None:
    """Raise ``BudgetExceededError`` before an LLM call when a hard budget is spent.

    Example::

        oc.check_budget(tenant_id="acme")
        reply = client.chat.completions.create(...)

    The ids default to those of the enclosing ``oc.conversation(...)``. Without ``configure(budgets=...)`` this does
    nothing.

    Args:
        tenant_id: The tenant the call is for.
        user_id: The user the call is for.

    Raises:
        BudgetExceededError: A hard budget that applies is spent.
    """
    guard = STATE.budget_guard
    if guard is None:
        return
    scope = current_attributes()
    tenant = tenant_id if tenant_id is not None else scope.get(semconv.CHATBOT_TENANT_ID)
    user = user_id if user_id is not None else scope.get(semconv.USER_ID)
    guard.check(tenant_id=tenant, user_id=user)
