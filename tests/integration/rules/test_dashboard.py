"""The Grafana dashboard and its provisioning: shape, variables, and every panel query returning data (offline).

"Returns data" is checked with promtool itself: each panel query (variables substituted) becomes an alert
`absent(<query>)`, evaluated with the recording rules over synthetic series shaped like the real metrics of
docs/metrics.md. The alert must stay quiet; with no input series it must fire for every panel (so the check can fail).
The same queries against the real Prometheus after an end-to-end run are in tests/integration/rules/test_stack_*.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.rules._assets import (
    DASHBOARD_VARIABLES,
    REPO,
    RULE_FILES,
    PanelQuery,
    dashboard,
    load_yaml,
    panel_queries,
    panels,
    run_promtool,
    variable_values,
)

# The panels issue 6 lists, by title.
REQUIRED_PANELS = {
    "Request latency p50/p95/p99",
    "Stage latency p50/p95/p99",
    "Stage share of request time",
    "Backend TTFB p50/p95/p99 by provider/model",
    "Streaming duration p50/p95/p99",
    "Time to first token p50/p95/p99",
    "Output tokens per second",
    "Token burn rate by model and stage (tokens/min)",
    "USD per hour by model and stage",
    "Projected daily spend vs budget",
    "Error rate by stage",
    "Cache hit rate",
    "Top 10 slowest span names (p95)",
    "Request-stage breakdown (mean ms per request)",
}
# Constant queries return data without any input; they are left out of the "fires without data" check.
CONSTANT_QUERIES = {"chatbot:cost_budget_usd_per_day"}

SERVICE = "bot"
DASHBOARD_MOUNT = "/etc/grafana/dashboards/otel-chatbot"
DURATION_BUCKETS_MS = ("10", "20", "40", "80", "160", "320", "640", "1280", "2560", "5120", "10240", "20480", "40960")
TTFT_BUCKETS_S = ("0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _histogram(name: str, labels: dict[str, str], buckets: tuple[str, ...], *, per_min: int, mean: float) -> list[str]:
    """Series of a histogram whose observations all fall into the bucket just above `mean`."""
    above = next(b for b in buckets if float(b) >= mean)
    series = []
    for le in (*buckets, "+Inf"):
        rate = per_min if le == "+Inf" or float(le) >= float(above) else 0
        series.append(f"{name}_bucket{_labels(**labels, le=le)} 0+{rate}x30")
    series.append(f"{name}_sum{_labels(**labels)} 0+{per_min * mean}x30")
    series.append(f"{name}_count{_labels(**labels)} 0+{per_min}x30")
    return series


def _span(stage: str | None, kind: str, span_name: str, mean_ms: float, **extra: str) -> list[str]:
    labels = {"service_name": SERVICE, "span_name": span_name, "span_kind": kind, "status_code": "STATUS_CODE_UNSET"}
    if stage is not None:
        labels["chatbot_stage"] = stage
    labels.update(extra)
    calls = f"traces_span_metrics_calls_total{_labels(**labels)} 0+60x30"
    duration = _histogram(
        "traces_span_metrics_duration_milliseconds", labels, DURATION_BUCKETS_MS, per_min=60, mean=mean_ms
    )
    return [calls, *duration]


def synthetic_series() -> list[str]:
    """One turn shape of the example chatbot, 60 turns a minute for 30 minutes."""
    llm = {"gen_ai_request_model": "gpt-4o-mini", "gen_ai_provider_name": "openai"}
    series = [
        *_span(None, "SPAN_KIND_SERVER", "POST /chat", 2400),
        *_span("request_parsing", "SPAN_KIND_INTERNAL", "request_parsing", 3),
        *_span("auth_validation", "SPAN_KIND_INTERNAL", "auth_validation", 5),
        *_span("request_preparation", "SPAN_KIND_INTERNAL", "request_preparation", 12),
        *_span("cache_lookup", "SPAN_KIND_INTERNAL", "cache_lookup", 2, chatbot_cache_hit="false"),
        *_span("retrieval", "SPAN_KIND_CLIENT", "retrieval faq", 300),
        *_span("generation", "SPAN_KIND_CLIENT", "chat gpt-4o-mini", 1900, **llm),
        *_span("backend_ttfb", "SPAN_KIND_INTERNAL", "backend_ttfb", 400, **llm),
        *_span("stream_processing", "SPAN_KIND_INTERNAL", "stream_processing", 1500, **llm),
        *_span("memory_update", "SPAN_KIND_INTERNAL", "update_memory", 20),
        # one failing generation a minute
        f"traces_span_metrics_calls_total{_labels(service_name=SERVICE, span_name='chat gpt-4o-mini', span_kind='SPAN_KIND_CLIENT', status_code='STATUS_CODE_ERROR', chatbot_stage='generation', **llm)} 0+1x30",  # noqa: E501
    ]
    # The SDK metrics: one series per worker process (instance = service.instance.id), two workers here.
    for instance in ("worker-1", "worker-2"):
        sdk = {"job": SERVICE, "instance": instance, "service_name": SERVICE}
        inference = {**sdk, "gen_ai_operation_name": "chat", "chatbot_stage": "generation", **llm}
        for kind, per_call in (("input", 800), ("output", 120)):
            name = f"gen_ai_client_inference_usage_{kind}_tokens_total"
            series.append(f"{name}{_labels(**inference, gen_ai_token_modality='text')} 0+{30 * per_call}x30")
        series += _histogram(
            "gen_ai_client_inference_duration_seconds", inference, TTFT_BUCKETS_S, per_min=30, mean=1.9
        )
        cost = {**sdk, "gen_ai_operation_name": "chat", "chatbot_stage": "generation", "chatbot_tenant_id": "acme"}
        series.append(f"chatbot_cost_usd_total{_labels(**cost, **llm)} 0+0.01x30")
        for name in (
            "gen_ai_client_inference_time_to_first_chunk_seconds",
            "chatbot_response_time_to_first_token_seconds",
        ):
            series += _histogram(name, inference, TTFT_BUCKETS_S, per_min=30, mean=0.45)
        for stage, mean_s in (("retrieval", 0.3), ("generation", 1.9), ("memory_update", 0.02)):
            stage_labels = {**sdk, "chatbot_stage": stage, **(llm if stage == "generation" else {})}
            series += _histogram(
                "chatbot_stage_duration_seconds", stage_labels, TTFT_BUCKETS_S, per_min=30, mean=mean_s
            )
    otelcol = {"job": "otelcol-chatbot-self", "instance": "127.0.0.1:18888", "exporter": "otlp_grpc/jaeger"}
    series += [
        f"otelcol_exporter_send_failed_spans{_labels(**otelcol)} 0x30",
        f"otelcol_exporter_queue_size{_labels(**otelcol)} 3x30",
        f"otelcol_exporter_queue_capacity{_labels(**otelcol)} 5000x30",
    ]
    return series


def _panel_check_files(tmp_path: Path, queries: list[PanelQuery], series: list[str]) -> Path:
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [
                    {"alert": "PanelEmpty", "expr": f"absent({q.expr})", "labels": {"panel": q.name}} for q in queries
                ],
            }
        ]
    }
    panel_rules = tmp_path / "panels.yml"
    panel_rules.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    test = {
        "rule_files": [*map(str, RULE_FILES), str(panel_rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": s.rsplit(" ", 1)[0], "values": s.rsplit(" ", 1)[1]} for s in series or ["unrelated 1x30"]
                ],
                "alert_rule_test": [{"eval_time": "20m", "alertname": "PanelEmpty", "exp_alerts": []}],
            }
        ],
    }
    test_file = tmp_path / "panels_test.yml"
    test_file.write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
    return test_file


def test_dashboard_identity_and_variables() -> None:
    data = dashboard()
    assert data["uid"] == "otel-chatbot"
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in DASHBOARD_VARIABLES:
        var = variables[name]
        # "All" must be the regex `.*`, which also matches a series without the label (e.g. no variant label yet).
        assert var["type"] == "query" and var["includeAll"] and var["allValue"] == ".*", name
    assert variables["jaeger_url"]["type"] == "textbox"


def test_dashboard_has_every_required_panel() -> None:
    titles = [p["title"] for p in panels()]
    assert len(titles) == len(set(titles)), "duplicate panel titles"
    assert REQUIRED_PANELS <= set(titles), REQUIRED_PANELS - set(titles)


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


@pytest.mark.parametrize("panel", list(panels()), ids=lambda p: p["title"])
def test_panel_queries_prometheus_through_the_datasource_variable(panel: dict[str, Any]) -> None:
    assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert panel["targets"], "panel without a query"
    for target in panel["targets"]:
        assert target["expr"].strip() and target["datasource"] == panel["datasource"]


def test_slowest_spans_table_links_to_jaeger() -> None:
    (panel,) = (p for p in panels() if p["title"] == "Top 10 slowest span names (p95)")
    (link,) = panel["fieldConfig"]["defaults"]["links"]
    assert link["url"].startswith("${jaeger_url}/search?service=${__data.fields.service_name}")


def test_provisioning_files() -> None:
    grafana = REPO / "collector" / "grafana"
    datasources = load_yaml(grafana / "provisioning" / "datasources" / "otel-chatbot.yaml")["datasources"]
    by_uid = {d["uid"]: d for d in datasources}
    assert by_uid["prometheus"]["type"] == "prometheus" and by_uid["prometheus"]["isDefault"]
    assert by_uid["jaeger"]["type"] == "jaeger"
    assert by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "jaeger"
    (provider,) = load_yaml(grafana / "provisioning" / "dashboards" / "otel-chatbot.yaml")["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == DASHBOARD_MOUNT


def test_compose_runs_grafana_with_this_provisioning() -> None:
    grafana = load_yaml(REPO / "collector" / "docker-compose.yaml")["services"]["grafana"]
    image, _, digest = grafana["image"].partition("@")
    name, _, version = image.partition(":")
    assert name == "grafana/grafana" and version.split(".")[0] == "12" and digest.startswith("sha256:"), image
    assert grafana["network_mode"] == "host" and grafana["environment"]["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    mounts = {m.split(":")[0]: m.split(":")[1] for m in grafana["volumes"] if m.startswith("./")}
    assert mounts == {
        "./grafana/provisioning/datasources": "/etc/grafana/provisioning/datasources",
        "./grafana/provisioning/dashboards": "/etc/grafana/provisioning/dashboards",
        "./grafana/dashboards": DASHBOARD_MOUNT,
    }
    for source in mounts:
        assert (REPO / "collector" / source).is_dir(), source


def test_panel_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = panel_queries(variable_values(service=SERVICE))
    records = [{"record": f"panel:q{i}", "expr": q.expr} for i, q in enumerate(queries)]
    rules = {"groups": [{"name": "p", "rules": records}]}
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = run_promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "values",
    [
        variable_values(service=SERVICE),
        variable_values(service=SERVICE, model="gpt-4o-mini", provider="openai", stage="generation|backend_ttfb"),
    ],
    ids=["all", "one-model"],
)
def test_every_panel_returns_data_on_synthetic_metrics(tmp_path: Path, values: dict[str, str]) -> None:
    test_file = _panel_check_files(tmp_path, panel_queries(values), synthetic_series())
    result = run_promtool("test", "rules", test_file, cwd=tmp_path)
    assert result.returncode == 0, "panels without data (see the `panel` labels):\n" + result.stdout + result.stderr


def test_every_panel_is_reported_empty_without_metrics(tmp_path: Path) -> None:
    queries = [q for q in panel_queries(variable_values(service=SERVICE)) if q.expr not in CONSTANT_QUERIES]
    test_file = _panel_check_files(tmp_path, queries, [])
    result = run_promtool("test", "rules", test_file, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    missed = [q.name for q in queries if f'panel="{q.name}"' not in output]
    assert not missed, f"absent() did not flag these queries on empty input: {missed}"
