"""StatsSpanProcessor on real SDK spans: stage shares, errors, caches, streams, variants, threads, bounded memory."""

from __future__ import annotations

import sys
import threading

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otel_chatbot import semconv
from otel_chatbot.stats._aggregator import Aggregator
from otel_chatbot.stats._processor import StatsSpanProcessor
from otel_chatbot.stats._snapshot import StatsSnapshot
from tests._embedded_helpers import TraceBuilder, generation_attrs, stage_attrs
from tests._memory import measure_alone


def test_stage_share_on_constructed_traces() -> None:
    tb = TraceBuilder()
    # request 1: 100 ms = retrieval 20 + generation 70 (+10 ms of glue)
    with tb.request(100) as req:
        req.stage("retrieval", 0, 20)
        req.stage("generation", 20, 70, generation_attrs())
    # request 2: 300 ms = retrieval 30 + generation 240 + memory 30
    with tb.request(300, start_ms=1000) as req:
        req.stage("retrieval", 0, 30)
        req.stage("generation", 30, 240, generation_attrs())
        req.stage("memory_update", 270, 30)
    # a request without stages (a health check) says nothing about shares
    with tb.request(5000, start_ms=2000, name="GET /health"):
        pass
    snap = tb.snapshot()
    shares = {s.stage: s.share for s in snap.stages}
    assert shares == pytest.approx({"retrieval": 50 / 400, "generation": 310 / 400, "memory_update": 30 / 400})
    assert snap.requests is not None and snap.requests.count == 2
    assert snap.requests.mean_ms == pytest.approx(200.0)
    gen = snap.stage("generation")
    assert gen is not None
    assert gen.latency.count == 2 and gen.latency.max_ms == pytest.approx(240.0)
    assert gen.latency.slowest_trace_ids == (tb.trace_ids[1], tb.trace_ids[0])
    assert gen.models[0].model == "gpt-4o-mini" and gen.models[0].latency.count == 2
    assert snap.latency_json()["generation"] == {
        "count": 2,
        "mean_ms": pytest.approx(155.0),
        "p50_ms": pytest.approx(70.0, rel=0.01),
        "p95_ms": pytest.approx(70.0, rel=0.01),
        "p99_ms": pytest.approx(70.0, rel=0.01),
        "share": pytest.approx(310 / 400),
    }


def test_share_is_none_before_any_root_ends_and_pending_is_bounded() -> None:
    processor = StatsSpanProcessor(service_name="svc", batch_size=1, max_pending_traces=3)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    roots = [tracer.start_span("root") for _ in range(5)]
    for root in roots:
        with tracer.start_as_current_span(
            "retrieval", context=trace.set_span_in_context(root), attributes=stage_attrs("retrieval")
        ):
            pass
    snap = processor.snapshot()
    retrieval = snap.stage("retrieval")
    assert retrieval is not None and retrieval.share is None
    for root in roots:
        root.end()
    snap = processor.snapshot()
    assert snap.requests is not None and snap.requests.count == 3  # two oldest traces were evicted, not leaked
    assert processor._aggregator.dropped_traces == 2
    assert not processor._aggregator._pending


def test_remote_parent_counts_as_the_local_root() -> None:
    tb = TraceBuilder()
    remote = trace.SpanContext(trace_id=0xABC, span_id=0x1, is_remote=True, trace_flags=trace.TraceFlags(1))
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    root = tb.tracer.start_span("POST /chat", context=ctx, start_time=0)
    child = tb.tracer.start_span(
        "gen", context=trace.set_span_in_context(root), attributes=stage_attrs("generation"), start_time=0
    )
    child.end(end_time=50_000_000)
    root.end(end_time=100_000_000)
    gen = tb.snapshot().stage("generation")
    assert gen is not None and gen.share == pytest.approx(0.5)


def test_errors_caches_streams_and_variants() -> None:
    tb = TraceBuilder()
    for i in range(10):
        variant = "A" if i % 2 else "B"
        common = {semconv.CHATBOT_VARIANT: variant, semconv.GEN_AI_CONVERSATION_ID: f"c{i}"}
        with tb.request(1000, start_ms=i * 2000) as req:
            req.stage("cache", 0, 5, stage_attrs("cache", extra={semconv.CHATBOT_CACHE_HIT: i < 3, **common}))
            req.stage(
                "retrieval", 5, 50, stage_attrs("retrieval", common), error="TimeoutError" if i in (4, 5) else None
            )
            req.stage(
                "generation",
                60,
                900,
                generation_attrs(
                    inp=1000,
                    out=200,
                    cost=0.01,
                    extra={
                        **common,
                        semconv.GEN_AI_REQUEST_STREAM: True,
                        semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.1 * (i + 1),
                    },
                ),
            )
    snap = tb.snapshot()
    retrieval = snap.stage("retrieval")
    assert retrieval is not None
    assert retrieval.latency.errors == 2 and retrieval.latency.error_rate == pytest.approx(0.2)
    assert retrieval.error_types == (("TimeoutError", 2),)
    (cache,) = snap.caches
    assert (cache.stage, cache.lookups, cache.hits, cache.hit_rate) == ("cache", 10, 3, pytest.approx(0.3))
    assert cache.saved_tokens == 3 * 1200 and cache.saved_usd == pytest.approx(0.03)
    (stream,) = snap.streams
    assert stream.count == 10
    assert stream.ttft_p50_ms == pytest.approx(500, rel=0.01)
    assert stream.ttft_p99_ms == pytest.approx(900, rel=0.01)
    decode_s = sum(0.9 - 0.1 * (i + 1) for i in range(10) if 0.9 - 0.1 * (i + 1) > 0)
    assert stream.output_tokens_per_s == pytest.approx(200 * 8 / decode_s)
    by_variant = {v.variant: v for v in snap.variants}
    assert set(by_variant) == {"A", "B"}
    assert by_variant["A"].requests is not None and by_variant["A"].requests.count == 5
    assert by_variant["B"].errors == 1 and by_variant["A"].errors == 1
    assert by_variant["A"].cost_usd == pytest.approx(0.05)
    # Token, cost and TTFC series are the SDK metrics' (tests/unit/telemetry/test_metrics.py), not span-derived.
    assert {h.name for h in snap.histograms} == {semconv.METRIC_SPAN_DURATION}


def test_feedback_events_feed_the_variant_distribution() -> None:
    tb = TraceBuilder()
    with tb.request(100) as req:
        req.stage(
            "generation",
            0,
            50,
            generation_attrs(extra={semconv.CHATBOT_VARIANT: "A", semconv.GEN_AI_CONVERSATION_ID: "c1"}),
        )
    # feedback arrives later, in another request, naming the conversation
    with tb.request(10, start_ms=500) as req:
        req.root.add_event(
            semconv.CHATBOT_FEEDBACK_EVENT, {semconv.CHATBOT_FEEDBACK_SCORE: 1.0, semconv.GEN_AI_CONVERSATION_ID: "c1"}
        )
        req.root.add_event(
            semconv.CHATBOT_FEEDBACK_EVENT, {semconv.CHATBOT_FEEDBACK_SCORE: 0.0, semconv.GEN_AI_CONVERSATION_ID: "c1"}
        )
        req.root.add_event(semconv.CHATBOT_FEEDBACK_EVENT, {semconv.CHATBOT_FEEDBACK_SCORE: 5.0})
    snap = tb.snapshot()
    fb = {f.variant: f for f in snap.feedback}
    assert fb["A"].count == 2 and fb["A"].mean == 0.5 and fb["A"].distribution == ((0.0, 1), (1.0, 1))
    assert fb[""].count == 1
    assert {v.variant: v.feedback for v in snap.variants}["A"] == fb["A"]


def test_eight_threads_lose_no_count() -> None:
    processor = StatsSpanProcessor(service_name="svc", batch_size=64)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    per_thread = 2000
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            with tracer.start_as_current_span("request"):
                with tracer.start_as_current_span(
                    "gen",
                    attributes=generation_attrs(inp=1, out=1, cost=0.000001, extra={semconv.USER_ID: f"u{n}-{i}"}),
                ):
                    pass

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = processor.snapshot()
    assert snap.spans == 8 * per_thread * 2
    gen = snap.stage("generation")
    assert gen is not None and gen.latency.count == 8 * per_thread
    assert snap.requests is not None and snap.requests.count == 8 * per_thread
    assert sum(u.calls for u in snap.usage.by_user) == 8 * per_thread
    assert snap.usage.total_cost_usd == pytest.approx(8 * per_thread * 0.000001)
    calls = sum(c.value for c in snap.counters if c.name == semconv.METRIC_SPAN_CALLS)
    assert calls == 8 * per_thread * 2


def _blocks_grown_over_one_million_spans() -> int:
    agg = Aggregator(service_name="svc")
    gen = generation_attrs()

    def request(i: int) -> None:
        attrs = {
            **gen,
            semconv.USER_ID: f"user-{i}",
            semconv.GEN_AI_CONVERSATION_ID: f"conv-{i}",
            semconv.CHATBOT_TENANT_ID: f"tenant-{i % 1000}",
            semconv.CHATBOT_VARIANT: f"v{i % 3}",
        }
        agg.record(i, False, "chat", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", 0, (i % 5000 + 1) * 1000, attrs)
        agg.record(i, False, "retrieval", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", 0, 7000, {"chatbot.stage": "r"})
        if i % 10:  # every tenth root never ends here: pending state must stay bounded too
            agg.record(i, True, "POST /chat", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", 0, 9_000_000, {})

    for i in range(100_000):
        request(i)
    agg.snapshot()
    blocks_before = sys.getallocatedblocks()
    i = 100_000
    while agg.spans < 1_000_000:
        request(i)
        i += 1
    agg.snapshot()
    assert agg.spans >= 1_000_000
    return sys.getallocatedblocks() - blocks_before


@pytest.mark.slow
def test_memory_flat_over_one_million_spans() -> None:
    # Unique users, conversations and tenants per request, and unfinished traces: all bounded.
    assert measure_alone(_blocks_grown_over_one_million_spans) < 20_000


def test_snapshot_round_trips_through_json(tmp_path: object) -> None:
    tb = TraceBuilder()
    with tb.request(100) as req:
        req.stage("generation", 0, 70, generation_attrs(extra={semconv.CHATBOT_VARIANT: "A"}), error="RateLimitError")
    snap = tb.snapshot()
    again = StatsSnapshot.from_dict(snap.to_dict())
    assert again == snap
    with pytest.raises(ValueError):
        StatsSnapshot.from_dict({"format": "nope"})


def test_processor_contract() -> None:
    processor = StatsSpanProcessor(service_name="svc")
    assert processor.force_flush() is True
    processor.shutdown()
    with pytest.raises(ValueError):
        StatsSpanProcessor(service_name="svc", batch_size=0)


def test_spans_other_than_the_sdks_readable_span_take_the_public_path() -> None:
    from opentelemetry.sdk.trace import ReadableSpan

    class Custom(ReadableSpan):
        pass

    ctx = trace.SpanContext(trace_id=5, span_id=6, is_remote=False)
    processor = StatsSpanProcessor(service_name="svc", batch_size=1)
    processor.on_end(
        Custom(name="gen", context=ctx, parent=None, start_time=0, end_time=2_000_000, attributes=generation_attrs())
    )
    processor.on_end(Custom(name="no-times", context=ctx))  # not ended: ignored
    snap = processor.snapshot()
    gen = snap.stage("generation")
    assert snap.spans == 1 and gen is not None and gen.latency.max_ms == pytest.approx(2.0)
    assert snap.requests is not None and snap.requests.count == 1
