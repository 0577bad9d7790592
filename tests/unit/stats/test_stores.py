"""The in-process history, trace store and conversation store of StatsSpanProcessor, on real SDK spans."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.stats import StatsSnapshot, StatsSpanProcessor, TraceRecord
from otel_chatbot.stats._traces import MAX_ATTRIBUTE_CHARS
from tests._embedded_helpers import MS, T0, TraceBuilder, generation_attrs, stage_attrs

T0_S = T0 / 1e9  # an interval boundary for 10 s intervals (T0 is a multiple of 10 s)


def clock_at(seconds_after_t0: float) -> Any:
    return lambda: T0_S + seconds_after_t0


def test_history_points_count_requests_errors_latency_usage_and_spans() -> None:
    tb = TraceBuilder(clock=clock_at(25), history_interval_s=10.0)
    # Interval 0 (0..10 s): 100 requests of 1..100 ms, each with one priced generation span.
    for i in range(100):
        with tb.request(i + 1, start_ms=i * 50) as req:
            req.stage("generation", 0, 0.5, generation_attrs(inp=10, out=2, cost=0.001))
    # Interval 1 (10..20 s): one failing request with a deferred stage, an inner priced span and an unpriced stage.
    with tb.request(400, start_ms=12_000, attributes={"http.route": "/chat"}) as req:
        req.stage(
            "generation", 0, 300, generation_attrs(inp=999, out=999, extra={semconv.CHATBOT_USAGE_DEFERRED: True})
        )
        req.stage(
            "chat gpt-4o-mini",
            10,
            200,
            {
                semconv.CHATBOT_USAGE_STAGE: "generation",
                semconv.GEN_AI_USAGE_INPUT_TOKENS: 7,
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
                semconv.GEN_AI_USAGE_COST_AMOUNT: 0.5,
            },
        )
        req.stage("retrieval", 300, 50, stage_attrs("retrieval"))
        req.root.set_status(trace.Status(trace.StatusCode.ERROR))
    snap = tb.snapshot()
    # From the first interval with data to the clock's (interval 2, empty).
    assert [p.start for p in snap.history] == [T0_S, T0_S + 10, T0_S + 20]
    first, second, third = snap.history
    assert first.interval_s == 10.0
    assert (first.requests, first.errors, first.spans) == (100, 0, 200)
    assert first.p50_ms == pytest.approx(50.5, rel=0.03)  # 2% buckets around the true rank value
    assert first.p95_ms == pytest.approx(95, rel=0.03)
    assert first.p99_ms == pytest.approx(99, rel=0.03)
    assert (first.input_tokens, first.output_tokens) == (1000, 200)
    assert first.cost_usd == pytest.approx(0.1)
    assert (second.requests, second.errors, second.spans) == (1, 1, 4)
    assert second.p50_ms == pytest.approx(400, rel=0.02) and second.p99_ms == pytest.approx(400, rel=0.02)
    assert (second.input_tokens, second.output_tokens, second.cost_usd) == (7, 3, pytest.approx(0.5))
    assert (third.requests, third.spans, third.p50_ms, third.cost_usd) == (0, 0, None, 0.0)
    # Counted as the aggregator counts usage: the deferred stage span not at all, the inner span for its stage.
    assert sum(p.cost_usd for p in snap.history) == pytest.approx(snap.usage.total_cost_usd)
    assert sum(p.input_tokens for p in snap.history) == sum(u.input_tokens for u in snap.usage.by_stage)
    assert sum(p.spans for p in snap.history) == snap.spans


def test_history_is_a_ring_of_history_points() -> None:
    now = [T0_S]
    tb = TraceBuilder(clock=lambda: now[0], history_interval_s=1.0, history_points=5)
    for second in range(20):
        with tb.request(10, start_ms=second * 1000 + 100) as req:
            req.stage("generation", 0, 5, generation_attrs())
    snap = tb.snapshot()
    assert len(snap.history) == 5
    assert [p.start for p in snap.history] == [T0_S + s for s in range(15, 20)]
    assert all(p.requests == 1 and p.spans == 2 for p in snap.history)
    # A span that ended before the ring's oldest interval is not counted anywhere in it.
    with tb.request(10, start_ms=2000):
        pass
    assert tb.snapshot().history == snap.history
    # The clock moving on shows the empty intervals since, still 5 points.
    now[0] = T0_S + 21.5
    moved = tb.snapshot().history
    assert [p.start for p in moved] == [T0_S + s for s in range(17, 22)]
    assert [p.requests for p in moved] == [1, 1, 1, 0, 0]


def test_trace_store_keeps_the_most_recent_and_the_slowest_stage_traces() -> None:
    tb = TraceBuilder(recent_traces=3, slowest_traces=2)
    durations = [50, 900, 40, 800, 30, 20, 10, 60]
    for i, ms in enumerate(durations):
        with tb.request(ms, start_ms=i * 1000) as req:
            req.stage("generation", 0, ms / 2, generation_attrs())
    with tb.request(5000, start_ms=20_000, name="GET /health"):
        pass  # no stage: never kept, however slow
    snap = tb.snapshot()
    by_id = {t.trace_id: t for t in snap.traces}
    assert set(by_id) == {tb.trace_ids[i] for i in (1, 3, 5, 6, 7)}
    assert by_id[tb.trace_ids[1]].reasons == ("slowest",) and by_id[tb.trace_ids[1]].duration_ms == 900
    assert by_id[tb.trace_ids[3]].reasons == ("slowest",)
    assert all(by_id[tb.trace_ids[i]].reasons == ("recent",) for i in (5, 6, 7))
    assert [t.start for t in snap.traces] == sorted((t.start for t in snap.traces), reverse=True)
    assert snap.traces[0].trace_id == tb.trace_ids[7] and snap.traces[0].root_name == "POST /chat"
    # A trace both recent and among the slowest says both.
    with tb.request(2000, start_ms=30_000) as req:
        req.stage("generation", 0, 1, generation_attrs())
    newest = tb.snapshot().traces[0]
    assert newest.trace_id == tb.trace_ids[-1] and newest.reasons == ("slowest", "recent")


def test_trace_spans_are_in_start_order_with_parent_ids() -> None:
    processor = StatsSpanProcessor(service_name="svc", batch_size=1)
    provider = oc_provider(processor)
    tracer = provider.get_tracer("t")
    start = T0
    root = tracer.start_span("POST /chat", kind=SpanKind.SERVER, start_time=start)
    root_ctx = trace.set_span_in_context(root)
    # A stage starting at the root's very start: on the tie the parent comes first.
    retrieval = tracer.start_span("retrieval", context=root_ctx, attributes=stage_attrs("retrieval"), start_time=start)
    inner = tracer.start_span(
        "embed", context=trace.set_span_in_context(retrieval), start_time=start + 2 * MS, attributes={"k": 1}
    )
    inner.end(end_time=start + 5 * MS)
    retrieval.end(end_time=start + 10 * MS)
    gen = tracer.start_span("generation", context=root_ctx, attributes=generation_attrs(), start_time=start + 10 * MS)
    gen.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
    gen.end(end_time=start + 40 * MS)
    root.end(end_time=start + 45 * MS)
    (rec,) = processor.snapshot().traces
    assert rec.trace_id == f"{root.get_span_context().trace_id:032x}" and len(rec.trace_id) == 32
    assert [s.name for s in rec.spans] == ["POST /chat", "retrieval", "embed", "generation"]
    ids = {s.name: s.span_id for s in rec.spans}
    assert ids["POST /chat"] == f"{root.get_span_context().span_id:016x}"
    assert all(len(i) == 16 and int(i, 16) for i in ids.values())
    parents = {s.name: s.parent_id for s in rec.spans}
    assert parents == {
        "POST /chat": None,
        "retrieval": ids["POST /chat"],
        "embed": ids["retrieval"],
        "generation": ids["POST /chat"],
    }
    spans = {s.name: s for s in rec.spans}
    assert (spans["embed"].start_ms, spans["embed"].duration_ms) == (2.0, 3.0)
    assert spans["generation"].status == "STATUS_CODE_ERROR" and spans["POST /chat"].kind == "SPAN_KIND_SERVER"
    assert spans["generation"].attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert rec.error is True and rec.duration_ms == 45.0 and rec.start == T0_S and rec.dropped_spans == 0


def oc_provider(processor: StatsSpanProcessor) -> Any:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


def test_attributes_are_json_safe_and_truncated_and_spans_per_trace_bounded() -> None:
    tb = TraceBuilder(max_spans_per_trace=5, clock=clock_at(1))
    long = "x" * 5000
    with tb.request(100) as req:
        attrs = stage_attrs(
            "retrieval", {"long": long, "nan": math.nan, "floats": (1.5, 2.5), "names": ("a", long), "flag": True}
        )
        req.stage("retrieval", 0, 1, attrs)
        for i in range(10):
            req.stage(f"tool {i}", 1 + i, 1, stage_attrs("tools"))
    snap = tb.snapshot()
    (rec,) = snap.traces
    assert len(rec.spans) == 5 and rec.dropped_spans == 7
    assert rec.spans[0].name == "POST /chat"  # the root is always kept
    a = rec.spans[1].attributes
    assert a["long"] == "x" * MAX_ATTRIBUTE_CHARS + "…"
    assert a["nan"] == "nan" and a["floats"] == [1.5, 2.5] and a["flag"] is True
    assert a["names"] == ["a", "x" * MAX_ATTRIBUTE_CHARS + "…"]
    # The dropped spans still count in the history and the statistics.
    assert sum(p.spans for p in snap.history) == snap.spans == 12
    assert StatsSnapshot.from_dict(json.loads(snap.to_json())) == snap


def test_conversations_have_their_turns_in_order_with_ttft_tokens_and_cost() -> None:
    tb = TraceBuilder()
    turns = [("c1", 100, 0.25, None), ("c2", 200, None, 0.05), ("c1", 300, 0.5, 0.1), ("c1", 150, None, None)]
    for i, (conv, inp, ttft, ttfc) in enumerate(turns):
        extra: dict[str, Any] = {semconv.GEN_AI_REQUEST_STREAM: True}
        if ttft is not None:
            extra[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN] = ttft
        if ttfc is not None:
            extra[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        attrs = {semconv.GEN_AI_CONVERSATION_ID: conv, semconv.USER_ID: f"user-{conv}", semconv.CHATBOT_VARIANT: "B"}
        with tb.request(1000 + i, start_ms=i * 10_000, attributes=attrs) as req:
            req.stage("retrieval", 0, 10, stage_attrs("retrieval"))
            req.stage(
                "generation", 10, 900, generation_attrs("gpt-4o", inp=inp, out=inp // 10, cost=inp * 1e-6, extra=extra)
            )
    with tb.request(10, start_ms=90_000) as req:
        req.stage("generation", 0, 5, generation_attrs())  # no conversation id: no turn
    snap = tb.snapshot()
    assert [c.conversation_id for c in snap.conversations] == ["c1", "c2"]  # most recent first
    c1 = snap.conversations[0]
    assert (c1.user_id, c1.tenant_id, c1.variant) == ("user-c1", None, "B")
    assert [t.trace_id for t in c1.turns] == [tb.trace_ids[0], tb.trace_ids[2], tb.trace_ids[3]]
    assert [t.input_tokens for t in c1.turns] == [100, 300, 150]
    assert [t.output_tokens for t in c1.turns] == [10, 30, 15]
    assert [t.cost_usd for t in c1.turns] == pytest.approx([100e-6, 300e-6, 150e-6])
    assert [t.ttft_ms for t in c1.turns] == [pytest.approx(250.0), pytest.approx(500.0), None]
    assert [t.latency_ms for t in c1.turns] == [1000.0, 1002.0, 1003.0]
    assert all(t.model == "gpt-4o" and not t.error for t in c1.turns)
    assert c1.turns[0].start == T0_S
    assert snap.conversations[1].turns[0].ttft_ms == pytest.approx(50.0)  # the first chunk when no first token


def test_conversation_and_turn_bounds() -> None:
    tb = TraceBuilder(max_conversations=3, max_turns=2)
    for i in range(10):
        conv = f"c{i % 4}"
        with tb.request(10, start_ms=i * 100, attributes={semconv.GEN_AI_CONVERSATION_ID: conv}) as req:
            req.stage("generation", 0, 5, generation_attrs())
    convs = tb.snapshot().conversations
    assert [c.conversation_id for c in convs] == ["c1", "c0", "c3"]
    assert [len(c.turns) for c in convs] == [1, 1, 1]  # each was dropped before it came back
    for i in range(3):
        with tb.request(10, start_ms=2000 + i, attributes={semconv.GEN_AI_CONVERSATION_ID: "c0"}) as req:
            req.stage("generation", 0, 5, generation_attrs())
    convs = tb.snapshot().conversations
    assert [c.conversation_id for c in convs] == ["c0", "c1", "c3"]
    assert [t.trace_id for t in convs[0].turns] == tb.trace_ids[-2:]


def test_dump_and_load_carry_history_traces_and_conversations(tmp_path: Path) -> None:
    tel = oc.configure("svc")
    tracer = trace.get_tracer("t")
    for _ in range(3):
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
            root.set_attribute(semconv.GEN_AI_CONVERSATION_ID, "conv-1")
            with oc.traced_stage("retrieval"):
                pass
            with oc.traced_stage("generation", model="gpt-4o-mini", provider="openai"):
                oc.record_usage(input_tokens=812, output_tokens=95)
    path = tmp_path / "stats.json"
    tel.dump(str(path))
    loaded = StatsSnapshot.load(path)
    tel.shutdown()
    assert len(loaded.traces) == 3 and all(isinstance(t, TraceRecord) for t in loaded.traces)
    assert [s.attributes.get(semconv.CHATBOT_STAGE) for s in loaded.traces[0].spans] == [
        None,
        "retrieval",
        "generation",
    ]
    assert sum(p.requests for p in loaded.history) == 3 and sum(p.spans for p in loaded.history) == 9
    (conv,) = loaded.conversations
    assert [t.input_tokens for t in conv.turns] == [812, 812, 812]
    assert sum(t.cost_usd for t in conv.turns) == pytest.approx(loaded.usage.total_cost_usd)
    assert loaded.usage.total_cost_usd > 0


def test_bounds_hold_after_many_traces() -> None:
    tb = TraceBuilder(max_open_traces=50, recent_traces=5, slowest_traces=4, max_conversations=7, history_points=10)
    tracer = tb.tracer
    for i in range(3000):
        conv = {semconv.GEN_AI_CONVERSATION_ID: f"c{i}"}
        with tb.request(1 + i % 97, start_ms=i * 37, attributes=conv) as req:
            req.stage("generation", 0, 1, generation_attrs())
        if i % 10 == 0:  # a trace whose root never ends here
            orphan = tracer.start_span("never-ending root")
            child = tracer.start_span("gen", context=trace.set_span_in_context(orphan), attributes=generation_attrs())
            child.end()
    store = tb.processor._traces
    snap = tb.snapshot()
    assert len(store._pending) <= 50 and store.dropped_traces >= 300 - 50
    assert len(snap.traces) <= 9 and len(snap.conversations) == 7 and len(snap.history) <= 10
    assert {t.duration_ms for t in snap.traces if "slowest" in t.reasons} == {97.0}


@pytest.mark.parametrize(
    "option",
    [
        {"history_interval_s": 0},
        {"history_interval_s": math.inf},
        {"history_points": 0},
        {"recent_traces": -1},
        {"slowest_traces": -1},
        {"max_spans_per_trace": 0},
        {"max_conversations": -1},
        {"max_turns": 0},
        {"max_open_traces": 0},
        {"recent_traces": 2.5},
    ],
)
def test_options_are_validated(option: dict[str, Any]) -> None:
    name = next(iter(option))
    with pytest.raises(ValueError, match=name):
        StatsSpanProcessor(service_name="svc", **option)


def test_stores_can_be_turned_off() -> None:
    tb = TraceBuilder(recent_traces=0, slowest_traces=0, max_conversations=0, clock=clock_at(1))
    with tb.request(10, attributes={semconv.GEN_AI_CONVERSATION_ID: "c"}) as req:
        req.stage("generation", 0, 5, generation_attrs())
    snap = tb.snapshot()
    assert snap.traces == () and snap.conversations == () and snap.history[-1].requests == 1


def test_spans_of_a_request_across_an_interval_boundary_land_where_they_ended() -> None:
    tb = TraceBuilder(clock=clock_at(15), history_interval_s=10.0)
    with tb.request(50, start_ms=9_980) as req:  # ends at 10.03 s
        req.stage("generation", 0, 10, generation_attrs(inp=5, out=1, cost=0.25))  # ends at 9.99 s
        req.stage("retrieval", 30, 15, stage_attrs("retrieval"))  # ends at 10.025 s
    first, second = tb.snapshot().history
    assert (first.spans, first.requests, first.input_tokens, first.cost_usd) == (1, 0, 5, 0.25)
    assert (second.spans, second.requests, second.input_tokens, second.cost_usd) == (2, 1, 0, 0.0)
    assert second.p50_ms == pytest.approx(50.0)


def test_history_requests_are_those_that_ran_a_stage_as_in_the_request_statistics() -> None:
    tb = TraceBuilder(clock=clock_at(5), history_interval_s=10.0)
    for i in range(3):
        with tb.request(200, start_ms=i * 300) as req:
            req.stage("generation", 0, 150, generation_attrs(inp=10, out=2, cost=0.001))
    # A health check and a feedback post: root spans of their own, with no stage.
    for i in range(5):
        with tb.request(1, start_ms=1000 + i * 10, name="GET /healthz"):
            pass
    with tb.request(2, start_ms=1100, name="POST /feedback") as req:
        req.root.set_status(trace.Status(trace.StatusCode.ERROR))
    snap = tb.snapshot()
    (point,) = snap.history
    assert snap.requests is not None and snap.requests.count == 3
    assert (point.requests, point.errors) == (3, 0)
    assert point.p50_ms == pytest.approx(200, rel=0.03)  # not pulled down by the 1 ms health checks
    assert point.spans == 3 * 2 + 6  # every span still counts as a span
