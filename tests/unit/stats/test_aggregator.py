"""Pure statistics: sketch accuracy, bounded memory, top-N + other, usage roll-ups."""

from __future__ import annotations

import dataclasses
import math
import random
import tracemalloc
from collections.abc import Mapping

import pytest
from ddsketch import LogarithmicMapping

from otel_chatbot import semconv
from otel_chatbot.stats._accumulators import _MULTIPLIER, RELATIVE_ACCURACY, LatencyAcc
from otel_chatbot.stats._aggregator import Aggregator
from otel_chatbot.stats._snapshot import OTHER
from otel_chatbot.stats._usage_tables import BoundedUsage
from tests._memory import measure_alone


def exact_quantile(sorted_values: list[float], q: float) -> float:
    # DDSketch's definition: the value at rank floor(q * (n - 1)) of the sorted sample.
    return sorted_values[math.floor(q * (len(sorted_values) - 1))]


@pytest.mark.parametrize("seed", [1, 2])
def test_sketch_within_one_percent_on_heavy_tailed_samples(seed: int) -> None:
    rng = random.Random(seed)
    # Pareto (alpha 1.2, heavy tail) scaled to ms, mixed with a lognormal body: what LLM latencies look like.
    values = [rng.paretovariate(1.2) * 50 if i % 3 else rng.lognormvariate(6, 1) for i in range(100_000)]
    acc = LatencyAcc()
    for v in values:
        acc.add(v)
    values.sort()
    for q in (0.5, 0.95, 0.99):
        exact = exact_quantile(values, q)
        assert abs(acc.quantile(q) - exact) / exact <= 0.01, (q, acc.quantile(q), exact)
    stats = acc.stats()
    assert stats.count == 100_000
    assert stats.min_ms == values[0] and stats.max_ms == values[-1]
    assert stats.mean_ms == pytest.approx(sum(values) / len(values))


def test_inlined_key_matches_ddsketch_mapping() -> None:
    mapping = LogarithmicMapping(RELATIVE_ACCURACY)
    rng = random.Random(3)
    for _ in range(10_000):
        v = rng.lognormvariate(0, 6)
        assert abs(math.ceil(math.log2(v) * _MULTIPLIER) - mapping.key(v)) <= 1  # 1 ulp of log() may differ
        assert mapping.key(123.456) == math.ceil(math.log2(123.456) * _MULTIPLIER)


def test_empty_and_single_and_zero() -> None:
    acc = LatencyAcc()
    assert acc.quantile(0.5) == 0.0
    assert acc.stats().count == 0
    acc.add(0.0)
    assert acc.quantile(0.99) == 0.0
    acc.add(42.0, error=True, trace_id=7)
    stats = acc.stats()
    assert stats.count == 2 and stats.errors == 1 and stats.error_rate == 0.5
    assert stats.slowest_trace_ids == (f"{7:032x}",)
    assert stats.p50_ms == 0.0  # DDSketch's rank floor(q * (n - 1)) is the zero here
    acc.add(42.0)
    assert acc.quantile(0.99) == pytest.approx(42.0, rel=0.01)


def test_slowest_keeps_three_largest() -> None:
    acc = LatencyAcc()
    for i, ms in enumerate([5, 50, 1, 500, 20, 300], start=1):
        acc.add(ms, trace_id=i)
    assert acc.stats().slowest_trace_ids == (f"{4:032x}", f"{6:032x}", f"{2:032x}")


def _sketch_growth_bytes() -> int:
    acc = LatencyAcc()
    rng = random.Random(5)
    for _ in range(10_000):
        acc.add(rng.lognormvariate(5, 2))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(200_000):
        acc.add(rng.lognormvariate(5, 2))
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return grown


@pytest.mark.slow
def test_sketch_memory_is_flat() -> None:
    grown = measure_alone(_sketch_growth_bytes)
    assert grown < 64 * 1024  # a few new bins at most, not one entry per value


def test_bounded_usage_keeps_totals_exact_and_top_keys() -> None:
    table = BoundedUsage(capacity=3)
    for i in range(50):
        table.add(f"small-{i}", 1, 1, 0, 10)
    table.add("big", 100, 10, 0, 10_000)
    table.add("big", 100, 10, 0, 10_000)
    frozen = table.frozen()
    assert len(frozen) == 4
    assert frozen[0].key == "big" and frozen[0].calls == 2
    assert frozen[-1].key == OTHER
    assert sum(u.calls for u in frozen) == 52
    assert sum(u.cost_usd for u in frozen) == pytest.approx((50 * 10 + 20_000) / 1e9)
    assert len(table.keys) <= 6


def _record(
    agg: Aggregator,
    trace_id: int,
    attrs: Mapping[str, object],
    *,
    root: bool = False,
    ms: float = 1.0,
    status: str = "STATUS_CODE_UNSET",
    name: str = "s",
) -> None:
    agg.record(trace_id, root, name, "SPAN_KIND_CLIENT", status, 0, round(ms * 1e6), attrs)


def test_usage_rollups_per_dimension() -> None:
    agg = Aggregator(service_name="svc", top_n=2, max_tenants=2)
    base = {semconv.CHATBOT_STAGE: "generation", semconv.GEN_AI_PROVIDER_NAME: "openai"}
    for i in range(6):
        attrs = {
            **base,
            semconv.GEN_AI_REQUEST_MODEL: "a" if i % 2 else "b",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 10,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 1,
            semconv.GEN_AI_USAGE_COST_AMOUNT: 0.001 * (i + 1),
            semconv.USER_ID: f"u{i}",
            semconv.GEN_AI_CONVERSATION_ID: f"c{i % 3}",
            semconv.CHATBOT_TENANT_ID: f"t{i}",
            semconv.CHATBOT_VARIANT: "A" if i < 3 else "B",
        }
        _record(agg, i + 1, attrs)
    _record(
        agg,
        99,
        {
            semconv.CHATBOT_STAGE: "generation",
            semconv.GEN_AI_REQUEST_MODEL: "mystery",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 5,
            semconv.CHATBOT_COST_UNKNOWN_MODEL: True,
        },
    )
    usage = agg.snapshot().usage
    assert {u.key: round(u.cost_usd, 6) for u in usage.by_model} == {"a": 0.012, "b": 0.009, "mystery": 0.0}
    assert next(u for u in usage.by_model if u.key == "mystery").unpriced_calls == 1
    assert [u.key for u in usage.by_provider] == ["openai", "(unknown)"]
    assert usage.total_cost_usd == pytest.approx(0.021)
    assert [u.key for u in usage.by_user] == ["u5", "u4", OTHER]
    assert usage.by_user[-1].calls == 4
    assert {u.key for u in usage.by_tenant} == {"t0", "t1", OTHER}
    assert {u.key: u.calls for u in usage.by_variant} == {"A": 3, "B": 3}
    assert sum(u.input_tokens for u in usage.by_conversation) == 60


def test_bounds_validated() -> None:
    with pytest.raises(ValueError):
        Aggregator(service_name="svc", top_n=0)


def test_merged_equals_one_accumulator_over_all_values() -> None:
    rng = random.Random(9)
    whole, parts = LatencyAcc(), [LatencyAcc() for _ in range(3)]
    for i in range(3000):
        v = rng.lognormvariate(4, 1.5)
        whole.add(v, error=i % 7 == 0, trace_id=i + 1)
        parts[i % 3].add(v, error=i % 7 == 0, trace_id=i + 1)
    merged, expected = LatencyAcc.merged(parts).stats(), whole.stats()
    assert merged.mean_ms == pytest.approx(expected.mean_ms)  # float sums in another order
    assert dataclasses.replace(merged, mean_ms=0.0) == dataclasses.replace(expected, mean_ms=0.0)


# --- stage nesting, request order and shares -------------------------------------------------------------------------


def _span(
    agg: Aggregator,
    trace: int,
    span_id: int,
    parent_id: int,
    name: str,
    start_ms: float,
    end_ms: float,
    stage: str | None = None,
    *,
    root: bool = False,
) -> None:
    agg.record(
        trace_id=trace,
        is_root=root,
        name=name,
        kind="SPAN_KIND_SERVER" if root else "SPAN_KIND_INTERNAL",
        status="STATUS_CODE_UNSET",
        start_ns=round(start_ms * 1e6),
        end_ns=round(end_ms * 1e6),
        attributes={semconv.CHATBOT_STAGE: stage} if stage else {},
        span_id=span_id,
        parent_id=parent_id,
    )


def _example_request(agg: Aggregator, trace: int, t0: float) -> None:
    """The example app's trace (docs/example.md), spans in the order they end (children first): 100 ms."""
    root, parse, auth, prep, retr, gen, ttfb, post, stream, mem = (trace * 100 + i for i in range(1, 11))
    _span(agg, trace, parse, root, "request_parsing", t0, t0 + 2, "request_parsing")
    _span(agg, trace, auth, root, "auth_validation", t0 + 2, t0 + 5, "auth_validation")
    _span(agg, trace, retr, prep, "retrieval help-center", t0 + 6, t0 + 16, "retrieval")
    _span(agg, trace, prep, root, "request_preparation", t0 + 5, t0 + 20, "request_preparation")
    _span(agg, trace, post, ttfb, "POST", t0 + 21, t0 + 40)  # httpx CLIENT span: no stage
    _span(agg, trace, ttfb, gen, "backend_ttfb", t0 + 21, t0 + 40, "backend_ttfb")
    _span(agg, trace, stream, gen, "stream_processing", t0 + 40, t0 + 90, "stream_processing")
    _span(agg, trace, gen, root, "chat gpt-4o-mini", t0 + 20, t0 + 91, "generation")
    _span(agg, trace, mem, root, "update_memory", t0 + 91, t0 + 99, "memory_update")
    _span(agg, trace, root, 0, "POST /chat", t0, t0 + 100, root=True)


def test_stages_in_request_order_with_their_enclosing_stage() -> None:
    agg = Aggregator(service_name="svc")
    for trace in range(1, 4):
        _example_request(agg, trace, trace * 1000.0)
    stages = agg.snapshot().stages
    assert [(s.stage, s.parent) for s in stages] == [
        ("request_parsing", None),
        ("auth_validation", None),
        ("request_preparation", None),
        ("retrieval", "request_preparation"),
        ("generation", None),
        ("backend_ttfb", "generation"),
        ("stream_processing", "generation"),
        ("memory_update", None),
    ]
    offsets = {s.stage: s.start_offset_ms for s in stages}
    assert offsets == pytest.approx(
        {
            "request_parsing": 0.0,
            "auth_validation": 2.0,
            "request_preparation": 5.0,
            "retrieval": 6.0,
            "generation": 20.0,
            "backend_ttfb": 21.0,
            "stream_processing": 40.0,
            "memory_update": 91.0,
        }
    )
    shares = {s.stage: s.share for s in stages}
    # Top-level: 2 + 3 + 15 + 71 + 8 = 99 ms of 100; nested stages are parts of their parents, counted once.
    assert sum(s.share or 0 for s in stages if s.parent is None) == pytest.approx(0.99)
    assert shares["generation"] == pytest.approx(0.71)
    assert shares["stream_processing"] == pytest.approx(0.50)
    assert shares["retrieval"] == pytest.approx(0.10)


def test_walks_through_non_stage_spans_to_the_enclosing_stage() -> None:
    agg = Aggregator(service_name="svc")
    # generation > "http" (no stage) > "framework" (no stage) > tool: the tool's stage is inside generation.
    _span(agg, 1, 5, 4, "tool", 10, 20, "tool_call")
    _span(agg, 1, 4, 3, "framework", 9, 21)
    _span(agg, 1, 3, 2, "http", 8, 22)
    _span(agg, 1, 2, 1, "chat", 5, 30, "generation")
    _span(agg, 1, 1, 0, "POST /chat", 0, 40, root=True)
    tool = agg.snapshot().stage("tool_call")
    assert tool is not None and tool.parent == "generation" and tool.share == pytest.approx(0.25)


def test_top_level_shares_never_exceed_the_request_when_stages_overlap() -> None:
    agg = Aggregator(service_name="svc")
    # Two parallel retrievals of 80 ms and a 60 ms generation in a 100 ms request: 220 ms of stage time.
    _span(agg, 1, 2, 1, "retrieval a", 0, 80, "retrieval")
    _span(agg, 1, 3, 1, "retrieval b", 0, 80, "retrieval")
    _span(agg, 1, 4, 1, "chat", 40, 100, "generation")
    _span(agg, 1, 1, 0, "POST /chat", 0, 100, root=True)
    snap = agg.snapshot()
    shares = {s.stage: s.share for s in snap.stages}
    assert sum(s for s in shares.values() if s is not None) == pytest.approx(1.0)
    assert shares == pytest.approx({"retrieval": 160 / 220, "generation": 60 / 220})
    assert [s.stage for s in snap.stages] == ["retrieval", "generation"]


def test_a_stage_inside_itself_counts_its_time_once_and_the_most_frequent_parent_wins() -> None:
    agg = Aggregator(service_name="svc")
    # A recursive retrieval (30 ms inside 50 ms) under generation; then two requests where retrieval is top-level.
    _span(agg, 1, 4, 3, "inner", 10, 40, "retrieval")
    _span(agg, 1, 3, 2, "outer", 5, 55, "retrieval")
    _span(agg, 1, 2, 1, "chat", 0, 90, "generation")
    _span(agg, 1, 1, 0, "POST /chat", 0, 100, root=True)
    snap = agg.snapshot()
    retrieval = snap.stage("retrieval")
    assert retrieval is not None and retrieval.parent == "generation" and retrieval.share == pytest.approx(0.5)
    for trace in (2, 3):
        _span(agg, trace, 2, 1, "r", 0, 20, "retrieval")
        _span(agg, trace, 1, 0, "POST /chat", 0, 100, root=True)
    snap = agg.snapshot()
    retrieval = snap.stage("retrieval")
    # Top-level in 2 spans, inside generation in 2: a tie goes to the request. Its share then counts only its
    # top-level time (40 ms of 300), so the top-level shares still add up to <= 100%.
    assert retrieval is not None and retrieval.parent is None and retrieval.share == pytest.approx(40 / 300)
    assert sum(s.share or 0 for s in snap.stages if s.parent is None) <= 1.0


def test_a_root_that_is_a_stage_encloses_the_others() -> None:
    agg = Aggregator(service_name="svc")
    _span(agg, 1, 2, 1, "retrieve", 0, 10, "retrieval")
    agg.record(
        trace_id=1,
        is_root=True,
        name="agent",
        kind="SPAN_KIND_INTERNAL",
        status="STATUS_CODE_UNSET",
        start_ns=0,
        end_ns=40_000_000,
        attributes={semconv.CHATBOT_STAGE: "agent"},
        span_id=1,
    )
    snap = agg.snapshot()
    assert [(s.stage, s.parent, s.share) for s in snap.stages] == [("agent", None, 1.0), ("retrieval", "agent", 0.25)]


def test_spans_without_ids_are_top_level_and_memory_per_trace_is_bounded() -> None:
    agg = Aggregator(service_name="svc")
    for i in range(2000):  # more stage spans than a trace keeps: the rest count as top-level time
        _span(agg, 1, 0, 0, "step", i, i + 1, "step")
    _span(agg, 1, 0, 0, "POST /chat", 0, 4000, root=True)
    step = agg.snapshot().stage("step")
    assert step is not None and step.parent is None and step.share == pytest.approx(0.5)
    assert step.start_offset_ms == 0.0


def test_a_failed_request_counts_as_a_request_error_overall_and_in_its_variant() -> None:
    agg = Aggregator(service_name="svc")
    for trace_id, status in ((1, "STATUS_CODE_ERROR"), (2, "STATUS_CODE_UNSET"), (3, "STATUS_CODE_UNSET")):
        _record(agg, trace_id, {semconv.CHATBOT_STAGE: "generation", semconv.CHATBOT_VARIANT: "b"})
        _record(agg, trace_id, {}, root=True, ms=10.0, status=status, name="POST /chat")
    snap = agg.snapshot()
    assert snap.requests is not None
    assert (snap.requests.count, snap.requests.errors) == (3, 1)
    (variant,) = snap.variants
    assert variant.requests is not None and (variant.requests.count, variant.requests.errors) == (3, 1)
