"""The stack source's own arithmetic: counter deltas per interval, bucket quantiles, and the traces and conversations
built from Jaeger's JSON (real SDK spans rendered as Jaeger answers them). The real stack: test_report_stack.py."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_chatbot import semconv
from otel_chatbot.report._stack_source import _deltas, _quantile, stack_conversations, stack_traces
from tests._jaeger_fixture import jaeger_traces

MS = 1_000_000


def test_counter_deltas_count_new_series_from_zero_and_survive_resets() -> None:
    series = [
        {"metric": {"le": "10"}, "values": [[100, "5"], [110, "7"], [120, "7"], [130, "2"]]},  # a reset at 130
        {"metric": {"le": "10"}, "values": [[120, "4"], [130, "6"]]},  # born inside the range: 4 at 120
        {"metric": {"le": "+Inf"}, "values": [[100, "9"], [110, "NaN"], [120, "12"]]},
    ]
    assert _deltas(series, "le", start=100) == {
        "10": {100: 0.0, 110: 2.0, 120: 4.0, 130: 2.0 + 2.0},
        "+Inf": {100: 0.0, 120: 3.0},
    }
    assert _deltas(series[:2], None, start=100)[""] == {100: 0.0, 110: 2.0, 120: 4.0, 130: 4.0}


def test_quantile_interpolates_like_histogram_quantile() -> None:
    buckets = [(10.0, 2.0), (20.0, 6.0), (40.0, 8.0), (float("inf"), 8.0)]
    assert _quantile(0.5, buckets) == pytest.approx(15.0)  # rank 4: half-way through the 10-20 bucket
    assert _quantile(1.0, buckets) == pytest.approx(40.0)
    assert _quantile(0.5, [(10.0, 0.0), (float("inf"), 0.0)]) is None
    assert _quantile(0.99, [(10.0, 1.0), (float("inf"), 4.0)]) == 10.0  # in +Inf: the highest finite bound


def _spans() -> list[object]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i, ms in enumerate((100, 300, 200)):
        t0 = (1_700_000_000_000 + i * 1000) * MS
        conv: dict[str, AttributeValue] = {
            semconv.GEN_AI_CONVERSATION_ID: "c-1" if i < 2 else "c-2",
            semconv.USER_ID: "u",
        }
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER, start_time=t0, end_on_exit=False) as root:
            gen_attrs: dict[str, AttributeValue] = {
                semconv.CHATBOT_STAGE: "generation",
                semconv.GEN_AI_REQUEST_MODEL: "m",
                semconv.GEN_AI_USAGE_INPUT_TOKENS: 10 + i,
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
                semconv.GEN_AI_USAGE_COST_AMOUNT: 0.001,
                semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN: 0.05,
                **conv,
            }
            with tracer.start_as_current_span(
                "chat m", start_time=t0 + 10 * MS, attributes=gen_attrs, end_on_exit=False
            ) as gen:
                inner: dict[str, AttributeValue] = {
                    semconv.CHATBOT_STAGE: "backend_ttfb",
                    semconv.CHATBOT_USAGE_DEFERRED: True,
                }
                tracer.start_span("backend_ttfb", start_time=t0 + 10 * MS, attributes=inner).end(t0 + 40 * MS)
                gen.end(t0 + (ms - 10) * MS)
            root.end(t0 + ms * MS)
    return list(exporter.get_finished_spans())


def test_traces_are_the_slowest_and_most_recent_with_spans_in_start_order() -> None:
    docs = jaeger_traces(_spans(), "bot")["data"]  # type: ignore[arg-type]
    traces = stack_traces(docs, keep=1)
    assert [(t.duration_ms, t.reasons) for t in traces] == [(300.0, ("slowest",)), (200.0, ("recent",))]
    spans = traces[0].spans
    # A parent before its child when they start together.
    assert [(s.name, s.kind, s.start_ms) for s in spans] == [
        ("POST /chat", "SPAN_KIND_SERVER", 0.0),
        ("chat m", "SPAN_KIND_INTERNAL", 10.0),
        ("backend_ttfb", "SPAN_KIND_INTERNAL", 10.0),
    ]
    assert spans[0].parent_id is None and spans[2].parent_id == spans[1].span_id and len(spans[1].span_id) == 16
    assert spans[1].attributes[semconv.GEN_AI_REQUEST_MODEL] == "m" and len(traces[0].trace_id) == 32


def test_conversations_most_recent_first_with_turns_counted_once() -> None:
    docs = jaeger_traces(_spans(), "bot")["data"]  # type: ignore[arg-type]
    convs = stack_conversations(docs, "bot")
    assert [(c.conversation_id, len(c.turns), c.user_id) for c in convs] == [("c-2", 1, "u"), ("c-1", 2, "u")]
    first, second = convs[1].turns
    assert first.start < second.start
    # The deferring inner stage adds nothing: the generation span's usage once.
    assert (first.input_tokens, first.output_tokens) == (10, 5) and first.cost_usd == pytest.approx(0.001)
    assert (first.latency_ms, first.ttft_ms, first.model, first.error) == (100.0, 50.0, "m", False)
