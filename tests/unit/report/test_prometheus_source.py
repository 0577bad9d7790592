"""``load_prometheus`` reads spans, requests, tokens, USD and streams from Prometheus' answers (a canned Prometheus
that answers each PromQL query the reader sends by the series it names; the real stack is in
tests/integration/stack/test_report_stack.py)."""

from __future__ import annotations

from typing import Any

import pytest

from otel_chatbot import semconv
from otel_chatbot.report import load_prometheus, recommend
from otel_chatbot.report._recommendations import Thresholds
from otel_chatbot.report._render import render
from tests._servers import serve_json

GEN = {"chatbot_stage": "generation", "gen_ai_request_model": "gpt-4o-mini", "gen_ai_provider_name": "openai"}


def _series(query: str, streams: bool) -> list[tuple[dict[str, str], float]]:
    """What a Prometheus holding one app's metrics answers (the reader sums over instances: one series each here)."""
    quantile = {"0.5": 0, "0.95": 1, "0.99": 2}
    if query.startswith("histogram_quantile("):
        q = quantile[query.split("(", 1)[1].split(",", 1)[0]]
        if semconv.METRIC_TTFT in query:
            return [(GEN, (0.20, 0.40, 0.50)[q])] if streams else []
        if semconv.METRIC_TTFC in query:
            return [(GEN, (0.15, 0.30, 0.45)[q])] if streams else []
        if 'span_kind="SPAN_KIND_SERVER"' in query:
            return [({}, (900.0, 1800.0, 2400.0)[q])]
        return [(GEN, (800.0, 1600.0, 2000.0)[q])]
    table: list[tuple[str, str, list[tuple[dict[str, str], float]]]] = [
        (semconv.METRIC_SPAN_CALLS, 'status_code="STATUS_CODE_ERROR"', [({}, 1.0)]),
        (semconv.METRIC_SPAN_CALLS, 'span_kind="SPAN_KIND_SERVER"', [({}, 40.0)]),
        (semconv.METRIC_SPAN_DURATION + "_sum", 'span_kind="SPAN_KIND_SERVER"', [({}, 40_000.0)]),
        (semconv.METRIC_SPAN_CALLS, 'chatbot_stage!=""', [(GEN, 40.0)]),
        (semconv.METRIC_SPAN_DURATION + "_sum", 'chatbot_stage!=""', [(GEN, 32_000.0)]),
        (semconv.METRIC_SPAN_CALLS, "", [({"service_name": "bot"}, 160.0)]),
        (semconv.METRIC_TTFT + "_count", "", [(GEN, 40.0)] if streams else []),
        (semconv.METRIC_TTFC + "_count", "", [(GEN, 40.0)] if streams else []),
        (semconv.METRIC_TTFC + "_sum", "", [(GEN, 8.0)] if streams else []),
        (semconv.METRIC_INFERENCE_DURATION + "_count", "", [(GEN, 40.0)]),
        (semconv.METRIC_INFERENCE_DURATION + "_sum", "", [(GEN, 32.0)]),
        (semconv.METRIC_INPUT_TOKENS, "", [(GEN, 32_000.0)]),
        (semconv.METRIC_OUTPUT_TOKENS, "", [(GEN, 2_400.0)]),
        (semconv.METRIC_CACHE_READ_TOKENS, "", [(GEN, 1_000.0)]),
        (semconv.METRIC_COST, "", [(GEN, 0.00045)]),
    ]
    for metric, extra, rows in table:
        if metric + "{" in query and extra in query:
            return rows
    return []


def fake_prometheus(streams: bool) -> Any:
    def handler(path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        assert path == "/api/v1/query", path
        promql = query["query"][0]
        assert 'service_name="bot"' in promql, promql
        result = [{"metric": labels, "value": [0, str(v)]} for labels, v in _series(promql, streams)]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}

    return serve_json(handler)


def test_spans_requests_tokens_and_streams_are_read() -> None:
    with fake_prometheus(streams=True) as url:
        snap = load_prometheus(url, service="bot")
    assert snap.spans == 160
    assert snap.requests is not None
    assert (snap.requests.count, snap.requests.errors, snap.requests.mean_ms) == (40, 1, 1000.0)
    assert (snap.requests.p50_ms, snap.requests.p95_ms, snap.requests.p99_ms) == (900.0, 1800.0, 2400.0)
    (model,) = snap.usage.by_model
    assert (model.key, model.calls, model.input_tokens, model.output_tokens, model.cache_read_tokens) == (
        "gpt-4o-mini",
        40,
        32_000,
        2_400,
        1_000,
    )
    gen = snap.stage("generation")
    assert gen is not None
    assert (gen.input_tokens, gen.output_tokens, gen.cost_usd) == (32_000, 2_400, 0.00045)
    assert gen.share == pytest.approx(0.8)
    (stream,) = snap.streams
    assert (stream.stage, stream.model, stream.count) == ("generation", "gpt-4o-mini", 40)
    assert (stream.ttft_p50_ms, stream.ttft_p95_ms, stream.ttfc_p50_ms) == pytest.approx((200.0, 400.0, 150.0))
    # 2,400 output tokens over 32 s of inference less 8 s before the first chunks.
    assert stream.output_tokens_per_s == pytest.approx(100.0)
    text = render(snap, thresholds=Thresholds(min_count=1))
    assert "160 spans, 40 requests" in text and "$0.00045" in text and "32,000" in text
    assert "Streaming" in text and "stream the response" not in text


def test_no_streaming_advice_when_the_source_cannot_tell() -> None:
    with fake_prometheus(streams=False) as url:
        snap = load_prometheus(url, service="bot")
    assert snap.streams == ()
    (gen_rule,) = [r for r in recommend(snap, Thresholds(min_count=1)) if r.rule == "generation_share"]
    assert "stream the response" not in gen_rule.detail
