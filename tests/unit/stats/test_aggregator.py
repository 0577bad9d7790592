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
