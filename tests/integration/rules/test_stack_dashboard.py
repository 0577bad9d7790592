"""The dashboard and the alert rules against the REAL stack (otelcol-chatbot -> Prometheus 2.42) after chat traffic.

- every panel query (variables substituted) returns data from the stack's Prometheus, which loads the production
  rules of collector/prometheus/rules/ (a failure names the panels without data);
- each row of the slowest-spans table links to a Jaeger search that finds traces;
- with the local LLM server made slow (3.5 s to the first token), the backend-TTFB alerts reach ``firing`` in a real
  Prometheus loaded with a copy of the rules whose ``for:`` is 1 s, while a fast service's stay quiet;
- with Jaeger unreachable, OtelCollectorExportFailures fires on the collector's real self-telemetry.

Traffic comes from the example RAG chatbot (_drive_chatbot.py beside this file) in its own process, so every stage
of the request-stage breakdown, streaming, cache hits and provider errors show up as in production.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import pytest

from otel_chatbot.stack import Binaries, RunningStack
from tests._http import eventually, get_json, prom_query
from tests.integration.rules._assets import (
    NEEDS_LABEL,
    NEEDS_MODEL_ON_BREAKDOWN_SPANS,
    panel_queries,
    panels,
    variable_values,
)
from tests.integration.rules._prometheus import (
    ScrapeTarget,
    failing_collector,
    finite_samples,
    prometheus,
    rules_with_short_for,
    wait_for_panels,
)
from tests.integration.rules._traffic import finish, start_driver, traffic, unique_service

pytestmark = pytest.mark.stack

DATA_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def e2e_run(stack: RunningStack) -> tuple[str, list[str]]:
    """Chat traffic through the stack until every panel that can have data has it (or the deadline passes).

    Returns the service name and the panel queries still without data.
    """
    service = unique_service("dash-e2e")
    queries = [q for q in panel_queries(variable_values(service=service)) if q.panel not in NEEDS_LABEL]
    with traffic(service, "--endpoint", stack.collector_otlp_grpc_url):
        empty = wait_for_panels(stack.prometheus_url, queries, timeout=DATA_TIMEOUT_S)
    return service, empty


def _panel_params() -> list[object]:
    params: list[object] = []
    for panel in panels():
        title = panel["title"]
        marks = [pytest.mark.xfail(reason=NEEDS_LABEL[title], strict=True)] if title in NEEDS_LABEL else []
        params.append(pytest.param(title, marks=marks, id=title))
    return params


def _one_model_params() -> list[object]:
    """Panels whose queries filter on $model/$provider, for a run with one model and provider selected."""
    params: list[object] = []
    for panel in panels():
        title = panel["title"]
        if title in NEEDS_LABEL or not any("$model" in t["expr"] for t in panel["targets"]):
            continue
        reason = NEEDS_MODEL_ON_BREAKDOWN_SPANS.get(title)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(title, marks=marks, id=title))
    return params


def test_stack_prometheus_evaluates_every_rule(stack: RunningStack, e2e_run: tuple[str, list[str]]) -> None:
    answer = get_json(f"{stack.prometheus_url}/api/v1/rules")
    groups = {g["name"]: g for g in answer["data"]["groups"]}
    assert {"chatbot.recording.spans", "chatbot.alerts.latency", "chatbot.alerts.collector"} <= set(groups)
    broken = [
        f"{g}/{r['name']}: {r.get('lastError')}" for g in groups for r in groups[g]["rules"] if r["health"] == "err"
    ]
    assert not broken, broken


@pytest.mark.parametrize("title", _panel_params())
def test_panel_has_data_after_an_end_to_end_run(
    stack: RunningStack, e2e_run: tuple[str, list[str]], title: str
) -> None:
    service, empty_after_traffic = e2e_run
    queries = [q for q in panel_queries(variable_values(service=service)) if q.panel == title]
    if title in NEEDS_LABEL:  # not waited for: checked once, after every other panel has its data
        empty = [q.name for q in queries if not finite_samples(stack.prometheus_url, q.expr)]
    else:
        empty = [name for name in empty_after_traffic if name.startswith(f"{title} [")]
    assert not empty, f"panel queries without data in the real Prometheus: {empty}"


@pytest.mark.parametrize("title", _one_model_params())
def test_panel_has_data_with_one_model_selected(
    stack: RunningStack, e2e_run: tuple[str, list[str]], title: str
) -> None:
    service, _ = e2e_run  # the run's data is in already: no waiting here
    values = variable_values(service=service, model="gpt-4o-mini", provider="openai")
    queries = [q for q in panel_queries(values) if q.panel == title]
    empty = [q.name for q in queries if not finite_samples(stack.prometheus_url, q.expr)]
    assert not empty, f"panel queries without data for model gpt-4o-mini / provider openai: {empty}"


def test_variant_label_reaches_prometheus(stack: RunningStack, e2e_run: tuple[str, list[str]]) -> None:
    """The dashboard's variant variable lists label values of chatbot_variant; the example app sets chatbot.variant."""
    service, _ = e2e_run
    assert prom_query(
        stack.prometheus_url, f'traces_span_metrics_calls_total{{service_name="{service}", chatbot_variant!=""}}'
    )


def test_slowest_spans_link_to_traces_in_jaeger(stack: RunningStack, e2e_run: tuple[str, list[str]]) -> None:
    """Each row of "Top 10 slowest span names" links to a Jaeger search (service + operation) that finds traces."""
    service, _ = e2e_run
    (panel,) = (p for p in panels() if p["title"] == "Top 10 slowest span names (p95)")
    (link,) = panel["fieldConfig"]["defaults"]["links"]
    assert link["url"].startswith("${jaeger_url}/search?service=${__data.fields.service_name}&operation=")
    (table,) = (q for q in panel_queries(variable_values(service=service)) if q.panel == panel["title"])
    rows = finite_samples(stack.prometheus_url, table.expr)
    assert rows, "the slowest-spans table is empty"

    def traces(service_name: str, span_name: str) -> list[Any] | None:
        params = {"service": service_name, "operation": span_name, "lookback": "1h", "limit": "5"}
        found: list[Any] = get_json(f"{stack.jaeger_url}/api/traces", params)["data"] or []
        return found or None

    missing = []
    for row in rows:
        labels = row["metric"]
        if not eventually(
            functools.partial(traces, labels["service_name"], labels["span_name"]), timeout=DATA_TIMEOUT_S
        ):
            missing.append(labels["span_name"])
    assert not missing, f"Jaeger finds no traces for these rows of the slowest-spans table: {missing}"


def _ttfb_alerts(url: str, service: str) -> list[tuple[str, str]]:
    return sorted(
        (r["metric"]["alertname"], r["metric"]["alertstate"])
        for r in prom_query(url, f'ALERTS{{service_name="{service}", alertname=~".*BackendTTFB"}}')
    )


def test_backend_ttfb_alerts_fire_with_a_slow_llm_server(stack: RunningStack, tmp_path: Path) -> None:
    slow, fast = unique_service("ttfb-slow"), unique_service("ttfb-fast")
    rules = rules_with_short_for(tmp_path, for_duration="1s")
    target = ScrapeTarget("otelcol-chatbot", stack.ports.collector_prometheus)
    slow_args = ("--ttft-ms", "3500", "--error-rate", "0", "--per-wave", "3", "--gap-s", "0.5")
    with (
        prometheus(tmp_path / "prometheus", [target], rules) as prom,
        traffic(slow, "--endpoint", stack.collector_otlp_grpc_url, *slow_args),
        traffic(fast, "--endpoint", stack.collector_otlp_grpc_url, "--error-rate", "0"),
    ):

        def firing() -> list[tuple[str, str]] | None:
            alerts = _ttfb_alerts(prom.url, slow)
            both = ("CriticalBackendTTFB", "firing") in alerts and ("HighBackendTTFB", "firing") in alerts
            return alerts if both else None

        alerts = eventually(firing, timeout=DATA_TIMEOUT_S, interval=1.0)
        slow_p95 = prom_query(prom.url, f'chatbot:backend_ttfb_ms:p95_5m{{service_name="{slow}"}}')
        assert alerts == [("CriticalBackendTTFB", "firing"), ("HighBackendTTFB", "firing")], (
            f"TTFB alerts of the slow service: {_ttfb_alerts(prom.url, slow)}; its TTFB p95: {slow_p95}"
        )
        fast_p95 = eventually(
            lambda: finite_samples(prom.url, f'chatbot:backend_ttfb_ms:p95_5m{{service_name="{fast}"}}') or None,
            timeout=DATA_TIMEOUT_S,
        )
        assert fast_p95 and float(fast_p95[0]["value"][1]) < 2000, fast_p95
        assert _ttfb_alerts(prom.url, fast) == []
        assert prom.rule_health() == []


def test_collector_export_failure_alert_fires_when_jaeger_is_down(stack_binaries: Binaries, tmp_path: Path) -> None:
    """OtelCollectorExportFailures against the collector's real self-telemetry names (not just promtool fixtures)."""
    service = unique_service("export-fail")
    rules = rules_with_short_for(tmp_path, for_duration="1s")
    with failing_collector(stack_binaries.collector, tmp_path / "otelcol") as (otlp, telemetry):
        target = ScrapeTarget("otelcol-chatbot-self", telemetry, honor_labels=False)
        with (
            prometheus(tmp_path / "prometheus", [target], rules) as prom,
            traffic(service, "--endpoint", otlp, "--error-rate", "0"),
        ):

            def firing() -> list[dict[str, str]] | None:
                alerts = [
                    r["metric"]
                    for r in prom_query(
                        prom.url, 'ALERTS{alertname="OtelCollectorExportFailures", alertstate="firing"}'
                    )
                ]
                return alerts or None

            alerts = eventually(firing, timeout=DATA_TIMEOUT_S, interval=1.0)
            failed = prom_query(prom.url, '{__name__=~"otelcol_exporter_send_failed_.*"}')
            assert alerts, f"OtelCollectorExportFailures never fired; failure counters: {failed}"
            assert {a["exporter"] for a in alerts} == {"otlp_grpc/jaeger"}, alerts
            assert prom.rule_health() == []


def test_driver_reports_failure() -> None:
    """The traffic helper fails loudly (so a broken example app cannot pass the stack tests vacuously)."""
    with pytest.raises(AssertionError, match="driver failed"):
        finish(
            start_driver("x", "--endpoint", "http://127.0.0.1:1", "--waves", "not-a-number", stdin=subprocess.DEVNULL)
        )
