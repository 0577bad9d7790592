"""The count-once rule, other instrumentations' spans, conversation ids on them, and exactness under sampling.

"Another instrumentation" here is a tracer of another name creating spans the way the real ones do (attributes at
start like the official GenAI instrumentations, or only at end like OpenLIT); tests/instrumentations/ runs the real
packages against the local LLM server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.spend import Ledger, TokenUsage, default_table
from otel_chatbot.spend._pricing import cost_usd_float
from otel_chatbot.stats import StatsSnapshot
from otel_chatbot.testing import reset_trace_globals

MODEL = "gpt-4o-mini"


def _price(inp: int, out: int) -> float:
    price = default_table().lookup(MODEL, "openai")
    assert price is not None
    return cost_usd_float(TokenUsage(inp, out, 0, 0, 0), price)


def other_call(
    usage: tuple[int, int] | None = (100, 50),
    *,
    attributes_at_start: bool = True,
    legacy_system: bool = False,
    inside: Callable[[], None] | None = None,
    name: str = f"chat {MODEL}",
) -> None:
    """One chat call as another instrumentation traces it."""
    tracer = trace.get_tracer("other.genai.instrumentation")
    provider_key = semconv.GEN_AI_SYSTEM if legacy_system else semconv.GEN_AI_PROVIDER_NAME
    attributes = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: MODEL, provider_key: "openai"}
    with tracer.start_as_current_span(
        name, kind=SpanKind.CLIENT, attributes=attributes if attributes_at_start else None
    ) as span:
        if inside is not None:
            inside()
        if not attributes_at_start:
            span.set_attributes(attributes)
        if usage is not None:
            span.set_attributes(
                {semconv.GEN_AI_USAGE_INPUT_TOKENS: usage[0], semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage[1]}
            )


def _completion(inp: int = 100, out: int = 50) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": MODEL,
        "choices": [{"finish_reason": "stop"}],
        "usage": {"prompt_tokens": inp, "completion_tokens": out},
    }


@oc.traced_stage("generation", model=MODEL, provider="openai")
def wrapped_generation(**other: Any) -> dict[str, Any]:
    """A stage that wraps an instrumented SDK call and returns the same usage the SDK reported."""
    other_call(**other)
    return _completion()


@pytest.fixture
def tel(tmp_path: Path, span_exporter: InMemorySpanExporter) -> Iterator[oc.Telemetry]:
    telemetry = oc.configure(
        "acct", ledger=str(tmp_path / "usage.db"), span_processors=[SimpleSpanProcessor(span_exporter)]
    )
    yield telemetry
    telemetry.shutdown(timeout=5)


def _ledger_rows(tmp_path: Path, tel: oc.Telemetry) -> list[tuple[str, int, int, int, float]]:
    assert tel.force_flush(timeout=5)
    ledger = Ledger.open(str(tmp_path / "usage.db"))
    try:
        return [(r.key, r.calls, r.input_tokens, r.output_tokens, r.cost_usd) for r in ledger.usage("stage", since=0)]
    finally:
        ledger.close()


def _counter(snapshot: StatsSnapshot, name: str, **labels: str) -> float:
    return sum(
        c.value for c in snapshot.counters if c.name == name and all((k, v) in c.labels for k, v in labels.items())
    )


def _histogram_count(snapshot: StatsSnapshot, name: str, **labels: str) -> int:
    return sum(
        h.count for h in snapshot.histograms if h.name == name and all((k, v) in h.labels for k, v in labels.items())
    )


def _attrs(exporter: InMemorySpanExporter, name: str) -> dict[str, Any]:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return dict(span.attributes or {})


def _assert_counted_once(tel: oc.Telemetry, tmp_path: Path, calls: int = 1, inp: int = 100, out: int = 50) -> None:
    snapshot = tel.report()
    generation = snapshot.stage("generation")
    assert generation is not None
    assert (generation.input_tokens, generation.output_tokens) == (calls * inp, calls * out)
    assert generation.cost_usd == pytest.approx(calls * _price(inp, out), rel=1e-9)
    ((stage, rows, ledger_in, ledger_out, ledger_usd),) = _ledger_rows(tmp_path, tel)
    assert (stage, rows, ledger_in, ledger_out) == ("generation", calls, calls * inp, calls * out)
    assert ledger_usd == pytest.approx(calls * _price(inp, out), rel=1e-9)
    assert _counter(snapshot, semconv.METRIC_INPUT_TOKENS, chatbot_stage="generation") == calls * inp
    assert _counter(snapshot, semconv.METRIC_OUTPUT_TOKENS, chatbot_stage="generation") == calls * out
    assert _counter(snapshot, semconv.METRIC_COST) == pytest.approx(calls * _price(inp, out), rel=1e-9)
    assert _histogram_count(snapshot, semconv.METRIC_INFERENCE_DURATION) == calls
    assert _histogram_count(snapshot, semconv.METRIC_STAGE_DURATION, chatbot_stage="generation") == calls


def test_another_instrumentations_span_alone_is_a_priced_stage(
    tel: oc.Telemetry, tmp_path: Path, span_exporter: InMemorySpanExporter
) -> None:
    other_call()
    _assert_counted_once(tel, tmp_path)
    exported = _attrs(span_exporter, f"chat {MODEL}")
    assert exported[semconv.CHATBOT_STAGE] == "generation"  # implied by gen_ai.operation.name = chat
    assert exported[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(_price(100, 50), rel=1e-9)
    assert exported[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert exported[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"


def test_a_span_with_attributes_only_at_end_and_the_old_provider_key_counts(
    tel: oc.Telemetry, tmp_path: Path, span_exporter: InMemorySpanExporter
) -> None:
    other_call(attributes_at_start=False, legacy_system=True)  # how OpenLIT-style instrumentations do it
    _assert_counted_once(tel, tmp_path)
    exported = _attrs(span_exporter, f"chat {MODEL}")
    assert exported[semconv.GEN_AI_PROVIDER_NAME] == "openai"  # from gen_ai.system


@pytest.mark.parametrize("attributes_at_start", [True, False])
def test_a_stage_wrapping_an_instrumented_call_defers_to_it(
    tel: oc.Telemetry, tmp_path: Path, span_exporter: InMemorySpanExporter, attributes_at_start: bool
) -> None:
    for _ in range(3):
        wrapped_generation(attributes_at_start=attributes_at_start)
    _assert_counted_once(tel, tmp_path, calls=3)
    stages = [s for s in span_exporter.get_finished_spans() if s.attributes and semconv.CHATBOT_STAGE in s.attributes]
    assert len(stages) == 3  # the inner spans are not stages: the stage keeps the latency and the share
    for stage in stages:
        attributes = dict(stage.attributes or {})
        assert attributes[semconv.CHATBOT_USAGE_DEFERRED] is True
        assert not [k for k in attributes if k.startswith("gen_ai.usage.")]
        assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-1"  # what is not usage stays
    inner = [s for s in span_exporter.get_finished_spans() if s.name == f"chat {MODEL}" and s not in stages]
    assert len(inner) == 3
    assert all((s.attributes or {})[semconv.CHATBOT_USAGE_STAGE] == "generation" for s in inner)
    assert all(semconv.GEN_AI_USAGE_COST_AMOUNT in (s.attributes or {}) for s in inner)


def test_nested_instrumentations_count_the_innermost_span(
    tel: oc.Telemetry, tmp_path: Path, span_exporter: InMemorySpanExporter
) -> None:
    # A framework's LLM span (LangChain-style) around an SDK instrumentation's span: both report the same usage.
    other_call(name="chat langchain", inside=lambda: other_call())
    _assert_counted_once(tel, tmp_path)
    outer = _attrs(span_exporter, "chat langchain")
    assert outer[semconv.CHATBOT_STAGE] == "generation" and outer[semconv.CHATBOT_USAGE_DEFERRED] is True
    inner = _attrs(span_exporter, f"chat {MODEL}")
    assert inner[semconv.CHATBOT_USAGE_STAGE] == "generation" and semconv.CHATBOT_STAGE not in inner


def test_a_stage_counts_its_own_usage_when_the_inner_span_reported_none(
    tel: oc.Telemetry, tmp_path: Path, span_exporter: InMemorySpanExporter
) -> None:
    wrapped_generation(usage=None)  # e.g. an instrumentation that reads no usage from a stream
    _assert_counted_once(tel, tmp_path)
    stage = [s for s in span_exporter.get_finished_spans() if (s.attributes or {}).get(semconv.CHATBOT_STAGE)]
    assert (stage[0].attributes or {})[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100


def test_conversation_ids_reach_other_instrumentations_spans(
    tel: oc.Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    with oc.conversation(conversation_id="c-1", user_id="u-1", tenant_id="acme"):
        other_call()
        trace.get_tracer("http.client").start_span("GET").end()
    for name in (f"chat {MODEL}", "GET"):
        attributes = _attrs(span_exporter, name)
        assert attributes[semconv.GEN_AI_CONVERSATION_ID] == "c-1"
        assert attributes[semconv.USER_ID] == "u-1"
        assert attributes[semconv.CHATBOT_TENANT_ID] == "acme"
    conversations = tel.report().usage.by_conversation
    assert [(c.key, c.input_tokens) for c in conversations] == [("c-1", 100)]


@oc.traced_stage("retrieval")
def _retrieve() -> list[str]:
    return ["doc"]


def _workload(sampler: Sampler, tmp_path: Path, requests: int) -> tuple[StatsSnapshot, list[Any], int]:
    exporter = InMemorySpanExporter()
    telemetry = oc.configure(
        "sampled",
        sampler=sampler,
        ledger=str(tmp_path / f"{sampler.get_description()}.db"),
        span_processors=[SimpleSpanProcessor(exporter)],
    )
    try:
        tracer = trace.get_tracer("app")
        for i in range(requests):
            with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER):
                _retrieve()
                if i % 2:
                    wrapped_generation()
                else:
                    other_call()
        snapshot = telemetry.report()
        assert telemetry.force_flush(timeout=5)
        ledger = Ledger.open(str(tmp_path / f"{sampler.get_description()}.db"))
        try:
            rows = [(r.key, r.calls, r.input_tokens, r.output_tokens) for r in ledger.usage("stage", since=0)]
        finally:
            ledger.close()
        return snapshot, rows, len(exporter.get_finished_spans())
    finally:
        telemetry.shutdown(timeout=5)
        reset_trace_globals()


def _totals(snapshot: StatsSnapshot) -> dict[str, Any]:
    def stage(name: str) -> Sequence[Any]:
        st = snapshot.stage(name)
        assert st is not None
        return (st.latency.count, st.input_tokens, st.output_tokens, round(st.cost_usd, 12))

    return {
        "requests": snapshot.requests.count if snapshot.requests else 0,
        "generation": stage("generation"),
        "retrieval": stage("retrieval"),
        "input_tokens": _counter(snapshot, semconv.METRIC_INPUT_TOKENS),
        "cost": round(_counter(snapshot, semconv.METRIC_COST), 12),
        "stage_durations": _histogram_count(snapshot, semconv.METRIC_STAGE_DURATION),
    }


def test_totals_under_a_ten_percent_sampler_equal_an_unsampled_run(tmp_path: Path) -> None:
    requests = 200
    full, full_rows, full_exported = _workload(ParentBased(ALWAYS_ON), tmp_path, requests)
    sampled, sampled_rows, sampled_exported = _workload(ParentBased(TraceIdRatioBased(0.1)), tmp_path, requests)
    assert _totals(sampled) == _totals(full)
    assert _totals(full)["generation"][:2] == (requests, requests * 100)
    assert sampled_rows == full_rows == [("generation", requests, requests * 100, requests * 50)]
    # ... while only the sampled traces were exported (3 or 4 spans per request).
    assert full_exported == 3 * requests + requests // 2
    assert 0 < sampled_exported < full_exported / 4


def _streamed_call(ttfc: float | None) -> Callable[[], None]:
    def call() -> None:
        tracer = trace.get_tracer("sdk.instrumentation")
        attributes: dict[str, AttributeValue] = {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_REQUEST_MODEL: MODEL,
            semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 100,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 50,
        }
        if ttfc is not None:
            attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        tracer.start_span(f"chat {MODEL}", kind=SpanKind.CLIENT, attributes=attributes).end()

    return call


@pytest.mark.parametrize(("inner", "outer"), [(0.25, None), (None, 0.25), (0.25, 0.5)])
def test_stream_timings_are_recorded_once_per_call(tel: oc.Telemetry, inner: float | None, outer: float | None) -> None:
    """Two instrumentations of one call (OpenLLMetry's span, without a time to first chunk, inside the official
    one's, with it): the innermost span's timings, else the nearest enclosing span's; never both."""
    tracer = trace.get_tracer("framework.instrumentation")
    attributes: dict[str, AttributeValue] = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: MODEL}
    if outer is not None:
        attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = outer
    with tracer.start_as_current_span("chat outer", kind=SpanKind.CLIENT, attributes=attributes):
        _streamed_call(inner)()
    snapshot = tel.report()
    (ttfc,) = [h for h in snapshot.histograms if h.name == semconv.METRIC_TTFC]
    assert (ttfc.count, ttfc.sum) == (1, inner if inner is not None else outer)
    (ttft,) = [h for h in snapshot.histograms if h.name == semconv.METRIC_TTFT]  # others' first chunk = first token
    assert (ttft.count, ttft.sum) == (1, ttfc.sum)
    assert _histogram_count(snapshot, semconv.METRIC_INFERENCE_DURATION) == 1


def test_an_agent_span_is_no_stage_and_the_calls_inside_it_are(
    tel: oc.Telemetry, tmp_path: Path, span_exporter: InMemorySpanExporter
) -> None:
    """An agent framework's span (``invoke_agent``, no model, no usage) around two chat calls: two generation stages."""
    tracer = trace.get_tracer("agent.framework")
    with tracer.start_as_current_span(
        "invoke_agent helper", attributes={semconv.GEN_AI_OPERATION_NAME: "invoke_agent"}
    ):
        other_call()
        other_call()
    _assert_counted_once(tel, tmp_path, calls=2)
    agent = _attrs(span_exporter, "invoke_agent helper")
    assert semconv.CHATBOT_STAGE not in agent and semconv.CHATBOT_USAGE_STAGE not in agent
