"""Fixtures for tests against the REAL native stack (otelcol-chatbot, Jaeger v2, Prometheus) on loopback.

Reuse them from any test under ``tests/integration/stack/`` (mark the test ``@pytest.mark.stack``):

``stack`` (session)
    A started stack on free loopback ports, stopped at the end of the session. It is an
    :class:`otel_chatbot.stack.RunningStack`:

    - ``stack.collector_otlp_grpc_url`` / ``stack.collector_otlp_http_url``: where an app sends OTLP;
    - ``stack.prometheus_url``: Prometheus (``/api/v1/query``); it scrapes every second;
    - ``stack.jaeger_url``: Jaeger query API (``/api/traces``, ``/api/metrics/latencies``);
    - ``stack.collector_metrics_url``: the collector's prometheus exporter (span, token, cost, TTFT metrics);
    - ``stack.ports`` (every address), ``stack.run_dir`` (logs: ``otelcol.log``, ``jaeger.log``, ...),
      ``stack.binaries`` (``.collector``, ``.jaeger``, ``.prometheus``, ``.promtool``), ``stack.config_dir``.

    span_metrics flushes every second. Use a distinct ``service.name`` per test: the stack is shared by the session.

``stack_binaries`` (session)
    The built (or cached) binaries only, for tests that need no running stack (``validate``, ``promtool``).

If the stack cannot be built or started, these fixtures FAIL with the one-line reason; stack tests are never skipped.
Helpers for such tests: ``tests/_http.py`` (``get_json``, ``prom_query``, ``eventually``) and
``tests/integration/stack/_helpers.py`` (``run_app``, ``jaeger_traces``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from otel_chatbot.env import OTEL_CHATBOT_METRICS_FLUSH_INTERVAL, OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL
from otel_chatbot.stack import Binaries, RunningStack, StackError, StackPorts, ensure_all, start_stack, stop_stack


@pytest.fixture(scope="session")
def stack_binaries() -> Binaries:
    try:
        return ensure_all(lambda message: print(message, file=sys.stderr))
    except StackError as exc:
        pytest.fail(f"the native stack cannot be built: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def stack(stack_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("stack")
    try:
        running = start_stack(
            run_dir=run_dir,
            ports=StackPorts.free(),
            binaries=stack_binaries,
            extra_env={OTEL_CHATBOT_METRICS_FLUSH_INTERVAL: "1s", OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL: "1s"},
        )
    except StackError as exc:
        pytest.fail(f"the native stack did not start: {exc}", pytrace=False)
    yield running
    stop_stack(run_dir)
