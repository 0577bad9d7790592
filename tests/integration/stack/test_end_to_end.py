"""An instrumented chatbot app -> otelcol-chatbot -> Jaeger (traces) and Prometheus (span, token, cost metrics)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from otel_chatbot import semconv
from otel_chatbot.stack import RunningStack
from tests._http import eventually, get_json, prom_query, prom_scalar

from ._helpers import jaeger_traces, run_app

pytestmark = pytest.mark.stack

N = 12
SERVICE = "stack-e2e-bot"
STAGES = ("retrieval", "generation", "memory_update")


@pytest.fixture(scope="module")
def sent(stack: RunningStack) -> dict[str, Any]:
    """What the app sent: N requests of retrieval -> generation -> memory_update under a SERVER root span."""
    report = run_app(stack.collector_otlp_grpc_url, SERVICE, N)
    assert report["stages"] == {stage: N for stage in STAGES}
    assert report["spans"] == 4 * N
    assert report["ttft_spans"] == N // 2
    assert report["cost_usd"] > 0
    return report


def _tag(span: dict[str, Any], key: str) -> Any:
    return next((t["value"] for t in span["tags"] if t["key"] == key), None)


def test_jaeger_returns_every_trace_whole_and_nested(stack: RunningStack, sent: dict[str, Any]) -> None:
    traces = eventually(
        lambda: (
            (t if len(t) == N and all(len(x["spans"]) == 4 for x in t) else None)
            if (t := jaeger_traces(stack, SERVICE))
            else None
        )
    )
    assert traces is not None, jaeger_traces(stack, SERVICE)
    assert sorted(t["traceID"] for t in traces) == sorted(sent["trace_ids"])
    for trace_json in traces:
        spans = {s["operationName"]: s for s in trace_json["spans"]}
        assert set(spans) == {"POST /chat", "retrieval faq-index", "chat gpt-4o-mini", "update_memory"}
        root = spans["POST /chat"]
        assert root["references"] == []
        for name in ("retrieval faq-index", "chat gpt-4o-mini", "update_memory"):
            (ref,) = spans[name]["references"]
            assert ref["refType"] == "CHILD_OF"
            assert ref["spanID"] == root["spanID"]
        generation = spans["chat gpt-4o-mini"]
        assert _tag(generation, "chatbot.stage") == "generation"
        assert _tag(generation, "gen_ai.operation.name") == "chat"
        assert _tag(generation, "gen_ai.request.model") == "gpt-4o-mini"
        assert _tag(generation, "gen_ai.provider.name") == "openai"
        assert _tag(generation, "gen_ai.usage.input_tokens") >= 100
        assert _tag(generation, "gen_ai.usage.output_tokens") >= 3
        assert _tag(generation, "gen_ai.usage.cost.amount") > 0
        assert _tag(generation, "span.kind") == "client"
        assert _tag(spans["retrieval faq-index"], "chatbot.stage") == "retrieval"
        assert _tag(spans["update_memory"], "chatbot.stage") == "memory_update"
    totals = {"input": 0, "output": 0}
    cost = 0.0
    for trace_json in traces:
        for span in trace_json["spans"]:
            totals["input"] += _tag(span, "gen_ai.usage.input_tokens") or 0
            totals["output"] += _tag(span, "gen_ai.usage.output_tokens") or 0
            cost += _tag(span, "gen_ai.usage.cost.amount") or 0.0
    assert totals == {"input": sent["input_tokens"], "output": sent["output_tokens"]}
    assert math.isclose(cost, sent["cost_usd"], rel_tol=1e-9)


def _calls(stack: RunningStack, stage: str) -> float | None:
    query = f'sum(traces_span_metrics_calls_total{{chatbot_stage="{stage}",service_name="{SERVICE}"}})'
    value = prom_scalar(stack.prometheus_url, query)
    return value if value == N else None


def test_prometheus_counts_every_stage_call(stack: RunningStack, sent: dict[str, Any]) -> None:
    for stage in STAGES:
        calls = eventually(lambda stage=stage: _calls(stack, stage))  # type: ignore[misc]
        assert calls == N, prom_query(
            stack.prometheus_url, f'traces_span_metrics_calls_total{{service_name="{SERVICE}"}}'
        )
    (series,) = prom_query(
        stack.prometheus_url, f'traces_span_metrics_calls_total{{chatbot_stage="generation",service_name="{SERVICE}"}}'
    )
    labels = series["metric"]
    assert labels["gen_ai_operation_name"] == "chat"
    assert labels["gen_ai_request_model"] == "gpt-4o-mini"
    assert labels["gen_ai_provider_name"] == "openai"
    assert labels["span_kind"] == "SPAN_KIND_CLIENT"
    assert labels["status_code"] == "STATUS_CODE_UNSET"


def test_prometheus_has_a_finite_p95_per_stage(stack: RunningStack, sent: dict[str, Any]) -> None:
    for stage in STAGES:
        eventually(lambda stage=stage: _calls(stack, stage))  # type: ignore[misc]
        query = (
            "histogram_quantile(0.95, sum by (le) (traces_span_metrics_duration_milliseconds_bucket"
            f'{{chatbot_stage="{stage}",service_name="{SERVICE}"}}))'
        )
        p95 = prom_scalar(stack.prometheus_url, query)
        assert p95 is not None and 0 < p95 <= 81920, (stage, prom_query(stack.prometheus_url, query))
    count = prom_scalar(
        stack.prometheus_url,
        f'sum(traces_span_metrics_duration_milliseconds_count{{chatbot_stage="generation",service_name="{SERVICE}"}})',
    )
    assert count == N


def test_prometheus_token_and_cost_sums_equal_what_was_sent(stack: RunningStack, sent: dict[str, Any]) -> None:
    # The app's SDK metrics (OTLP metrics pipeline), one series per process (instance = service.instance.id).
    def tokens(metric: str, want: int) -> float | None:
        value = prom_scalar(stack.prometheus_url, f'sum({metric}{{service_name="{SERVICE}"}})')
        return value if value == want else None

    input_tokens, output_tokens = semconv.METRIC_INPUT_TOKENS, semconv.METRIC_OUTPUT_TOKENS
    assert eventually(lambda: tokens(input_tokens, sent["input_tokens"])) == sent["input_tokens"]
    assert eventually(lambda: tokens(output_tokens, sent["output_tokens"])) == sent["output_tokens"]
    count = prom_scalar(
        stack.prometheus_url, f'sum({semconv.METRIC_INFERENCE_DURATION}_count{{service_name="{SERVICE}"}})'
    )
    assert count == N
    (series,) = prom_query(stack.prometheus_url, f'{output_tokens}{{service_name="{SERVICE}"}}')
    assert series["metric"]["gen_ai_request_model"] == "gpt-4o-mini"
    assert series["metric"]["gen_ai_provider_name"] == "openai"
    assert series["metric"]["chatbot_stage"] == "generation"
    assert series["metric"]["job"] == SERVICE and series["metric"]["instance"]  # service.name, service.instance.id

    def cost() -> float | None:
        value = prom_scalar(stack.prometheus_url, f'sum(chatbot_cost_usd_total{{service_name="{SERVICE}"}})')
        return value if value is not None and math.isclose(value, sent["cost_usd"], rel_tol=1e-9) else None

    total = eventually(cost)
    assert total is not None, prom_query(stack.prometheus_url, f'chatbot_cost_usd_total{{service_name="{SERVICE}"}}')
    assert math.isclose(total, sent["cost_usd"], rel_tol=1e-9)
    (cost_series,) = prom_query(stack.prometheus_url, f'chatbot_cost_usd_total{{service_name="{SERVICE}"}}')
    assert cost_series["metric"]["gen_ai_request_model"] == "gpt-4o-mini"
    assert cost_series["metric"]["chatbot_stage"] == "generation"


def test_prometheus_has_time_to_first_chunk_of_the_streams(stack: RunningStack, sent: dict[str, Any]) -> None:
    query = f'sum({semconv.METRIC_TTFC}_count{{service_name="{SERVICE}"}})'
    count = eventually(lambda: v if (v := prom_scalar(stack.prometheus_url, query)) == sent["ttft_spans"] else None)
    assert count == sent["ttft_spans"]
    p95 = prom_scalar(
        stack.prometheus_url,
        f"histogram_quantile(0.95, sum by (le) ({semconv.METRIC_TTFC}_bucket"
        f'{{service_name="{SERVICE}",gen_ai_request_model="gpt-4o-mini"}}))',
    )
    assert p95 is not None and p95 > 0
    # The streams are plain text: their first visible token is their first chunk, in its own histogram too.
    query = f'sum(chatbot_response_time_to_first_token_seconds_count{{service_name="{SERVICE}"}})'
    count = eventually(lambda: v if (v := prom_scalar(stack.prometheus_url, query)) == sent["ttft_spans"] else None)
    assert count == sent["ttft_spans"]


def test_jaeger_monitor_tab_latencies(stack: RunningStack) -> None:
    """The Monitor tab's API answers from Prometheus' span metrics.

    Latency is ``histogram_quantile`` over ``rate()`` of the duration buckets, and Prometheus 2.42 cannot rate the first
    sample of a new series: so one wave of requests creates the series and a second wave moves them.
    """
    service = "stack-spm-bot"

    def calls(want: int) -> float | None:
        query = f'sum(traces_span_metrics_calls_total{{chatbot_stage="generation",service_name="{service}"}})'
        return value if (value := prom_scalar(stack.prometheus_url, query)) == want else None

    run_app(stack.collector_otlp_grpc_url, service, 2)
    assert eventually(lambda: calls(2)) == 2
    run_app(stack.collector_otlp_grpc_url, service, 6)
    assert eventually(lambda: calls(8)) == 8

    def latencies() -> list[dict[str, Any]] | None:
        answer = get_json(
            f"{stack.jaeger_url}/api/metrics/latencies",
            {
                "service": service,
                "quantile": "0.95",
                "spanKind": "client",
                "endTs": str(int(time.time() * 1000)),
                "lookback": str(5 * 60 * 1000),
                "step": "1000",
                "ratePer": str(60 * 1000),
            },
        )
        metrics: list[dict[str, Any]] = answer["metrics"]
        finite = [
            m for m in metrics if any(math.isfinite(float(p["gaugeValue"]["doubleValue"])) for p in m["metricPoints"])
        ]
        return finite or None

    found = eventually(latencies)
    assert found is not None, get_json(f"{stack.jaeger_url}/api/metrics/latencies", {"service": service})
    (series,) = found
    assert {label["name"]: label["value"] for label in series["labels"]} == {"service_name": service}
    values = [float(p["gaugeValue"]["doubleValue"]) for p in series["metricPoints"]]
    assert all(0 < v <= 81920 for v in values if math.isfinite(v))
