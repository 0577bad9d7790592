"""Zero code: ``configure()`` from the environment alone, with the embedded endpoints on a side port.

What the ``opentelemetry-instrument`` entry points (``_distro.py``) run; no app code is involved::

    OTEL_SERVICE_NAME=support-bot OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    OTEL_CHATBOT_METRICS_PORT=9464 OTEL_CHATBOT_REPORT_FILE=report.json \\
    opentelemetry-instrument uvicorn app:app

Everything ``configure()`` reads from the environment applies (service name, OTLP, sampler, ledger, prices, content
capture); this adds budgets (``OTEL_CHATBOT_BUDGETS``), the side port (``OTEL_CHATBOT_METRICS_PORT``/``_HOST``) and
the report written at exit (``OTEL_CHATBOT_REPORT_FILE``). See docs/zero-code.md.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from otel_chatbot import env
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend._budgets import Budget
from otel_chatbot.telemetry._configure import Telemetry, configure
from otel_chatbot.telemetry._instrumentation import DEFAULT_EXCLUDED_URLS, sanitize_fields

if TYPE_CHECKING:
    from otel_chatbot.stats._server import MetricsServer

__all__ = ["ZeroCode", "instrumentation_defaults", "parse_budgets", "start"]

logger = logging.getLogger(__name__)

ENTRY_POINT = "otel_chatbot"
"""The name of our ``opentelemetry_distro`` and ``opentelemetry_configurator`` entry points (pyproject.toml)."""

_BUDGET_FORMAT = "LIMIT_USD/WINDOW[/tenant|/user][/hard], comma-separated, e.g. 50/1d,5/1d/tenant/hard"
_LIMIT = re.compile(r"\d+(\.\d+)?|\.\d+")


def parse_budgets(text: str) -> tuple[Budget, ...]:
    """Parse an ``OTEL_CHATBOT_BUDGETS`` value: ``50/1d,5/1d/tenant/hard`` -> two ``Budget`` s.

    Raises:
        ConfigurationError: Naming the variable, the faulty item and the expected format.
    """
    budgets = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ConfigurationError(f"{env.OTEL_CHATBOT_BUDGETS}={text!r}: an empty budget; use {_BUDGET_FORMAT}.")
        budgets.append(_parse_budget(item, text))
    return tuple(budgets)


def _parse_budget(item: str, text: str) -> Budget:
    def fail(why: str) -> ConfigurationError:
        return ConfigurationError(f"{env.OTEL_CHATBOT_BUDGETS}={text!r}: {item!r}: {why}; use {_BUDGET_FORMAT}.")

    parts = [part.strip() for part in item.split("/")]
    if len(parts) < 2:
        raise fail("a limit and a window are required")
    limit, window, *options = parts
    if not _LIMIT.fullmatch(limit):
        raise fail(f"the limit {limit!r} is not a number of USD")
    per: Literal["tenant", "user"] | None = None
    hard = False
    for option in options:
        if option in ("tenant", "user") and per is None:
            per = "tenant" if option == "tenant" else "user"
        elif option == "hard" and not hard:
            hard = True
        else:
            raise fail(f"unexpected {option!r}")
    try:
        return Budget(limit_usd=float(limit), window=window, per=per, hard=hard)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None


def instrumentation_defaults() -> None:
    """Give the contrib instrumentations ``instrument_fastapi()``'s defaults; variables already set win.

    Set before the instrumentors load (they read these at import), so health checks and ``/metrics`` get no server
    span and, should anyone switch header capture on, secrets are masked (our sanitize list is added to yours).
    Also makes our configurator the one that runs when another (opentelemetry-distro's) is installed too, unless
    ``OTEL_PYTHON_CONFIGURATOR`` says otherwise.
    """
    os.environ.setdefault(env.OTEL_PYTHON_FASTAPI_EXCLUDED_URLS, ",".join(DEFAULT_EXCLUDED_URLS))
    os.environ[env.OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS] = ",".join(sanitize_fields())
    os.environ.setdefault(env.OTEL_PYTHON_CONFIGURATOR, ENTRY_POINT)


@dataclass
class ZeroCode:
    """What :func:`start` set up: the telemetry handle, the side-port server (if any), the report path (if any)."""

    telemetry: Telemetry
    metrics_server: MetricsServer | None = None
    report_file: str | None = None


_STARTED: ZeroCode | None = None


def start() -> ZeroCode:
    """``configure()`` from the environment, then the side port and the report at exit when asked for.

    Raises:
        ConfigurationError: An invalid ``OTEL_*`` value (the message names the variable).
    """
    global _STARTED
    spec = env.budgets_spec()
    budgets = parse_budgets(spec) if spec is not None else ()
    port = env.metrics_port(strict=True)
    report_file = env.report_file()
    telemetry = configure(budgets=budgets)
    started = ZeroCode(telemetry)
    if telemetry.enabled:
        _exit_cleanly_on_sigterm()
    if telemetry.enabled and telemetry.stats is not None:
        if port is not None:
            started.metrics_server = _serve_metrics(telemetry, env.metrics_host(), port)
        if report_file is not None:
            started.report_file = report_file
            atexit.register(_dump, telemetry, report_file)
    _STARTED = started
    logger.info(
        "otel_chatbot zero code: service %s, side port %s, report file %s",
        telemetry.service_name,
        port,
        report_file,
    )
    return started


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM a normal exit, so the exit handlers run: the report file, and the last spans and metrics flushed.

    uvicorn (0.29+) handles SIGTERM itself, shuts down gracefully, then raises the signal again with the handler that
    was there before it started: ``SIG_DFL`` would kill the process without running ``atexit``. An app's own handler
    is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm)


def _sigterm(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM kills at once
    raise SystemExit(128 + signum)


def _serve_metrics(telemetry: Telemetry, host: str, port: int) -> MetricsServer | None:
    from otel_chatbot.stats._exposition import render_prometheus
    from otel_chatbot.stats._server import MetricsServer

    try:
        return MetricsServer.start(
            host,
            port,
            latency=lambda: telemetry.report().latency_json(),
            prometheus=lambda: render_prometheus(telemetry.report()),
        )
    except OSError as exc:
        # Several workers (uvicorn --workers, gunicorn) each run this: the first binds the port. The others serve
        # nothing here; their numbers reach the Collector through OTLP (docs/zero-code.md).
        logger.warning(
            "otel_chatbot: %s=%d: cannot listen on %s:%d (%s); this process (pid %d) serves no side-port /metrics",
            env.OTEL_CHATBOT_METRICS_PORT,
            port,
            host,
            port,
            exc.strerror or exc,
            os.getpid(),
        )
        return None


def _dump(telemetry: Telemetry, path: str) -> None:
    try:
        telemetry.dump(path)
    except Exception:
        logger.exception("otel_chatbot: writing %s=%s failed", env.OTEL_CHATBOT_REPORT_FILE, path)
