"""The bottleneck report from every source on the real stack: the app's own statistics (dump), Jaeger, Prometheus.

One app process sends the same requests to the Collector (OTLP) and aggregates them in memory; the report read back
from Jaeger agrees with the embedded numbers within the sketch's error, the one from Prometheus within its buckets:
each Prometheus percentile lies in the bucket ``histogram_quantile`` must pick for the spans' real durations (kept by
an in-memory exporter), so a sleep that overshoots into the next bucket on a busy machine moves both alike.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.cli._main import main
from otel_chatbot.stack import RunningStack
from otel_chatbot.stats._aggregator import DURATION_BUCKETS_MS
from otel_chatbot.stats._snapshot import StatsSnapshot
from tests._http import eventually

pytestmark = pytest.mark.stack

SERVICE = "stack-report-sources-bot"
N = 30
# Sleep ranges inside one GenAI duration bucket each (the check does not depend on it: it uses the real durations).
DELAYS_MS = {"retrieval": (24.0, 34.0), "generation": (95.0, 140.0), "memory_update": (46.0, 70.0)}


@oc.traced_stage("retrieval", data_source="faq-index")
def retrieve(ms: float) -> None:
    time.sleep(ms / 1000)


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def generate(ms: float) -> dict[str, object]:
    time.sleep(ms / 1000)
    return {"usage": {"prompt_tokens": 700, "completion_tokens": 50}}


@oc.traced_stage("memory_update")
def remember(ms: float) -> None:
    time.sleep(ms / 1000)


def report_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> StatsSnapshot:
    capsys.readouterr()
    assert main(["report", *argv, "--format", "json"]) == 0
    return StatsSnapshot.from_dict(json.loads(capsys.readouterr().out)["snapshot"])


def counts(snapshot: StatsSnapshot) -> dict[str, int]:
    return {s.stage: s.latency.count for s in snapshot.stages}


def bucket(value: float) -> tuple[float, float]:
    lower = 0.0
    for upper in DURATION_BUCKETS_MS:
        if value <= upper:
            return lower, upper
        lower = upper
    return lower, float("inf")


def prometheus_bucket(durations_ms: list[float], q: float) -> tuple[float, float]:
    """The bucket Prometheus's ``histogram_quantile(q)`` interpolates in: the first whose cumulative count reaches
    ``q`` × count (Prometheus 2.42, promql/quantile.go)."""
    rank, seen, lower = q * len(durations_ms), 0, 0.0
    for upper in (*DURATION_BUCKETS_MS, float("inf")):
        seen += sum(lower < d <= upper for d in durations_ms)
        if seen >= rank:
            return lower, upper
        lower = upper
    raise AssertionError("unreachable: the last bucket holds every duration")


def test_jaeger_and_prometheus_agree_with_the_embedded_statistics(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tel = oc.configure(SERVICE, endpoint=stack.collector_otlp_grpc_url)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = trace.get_tracer("test")
    rng = random.Random(3)
    for _ in range(N):
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER):
            for stage, fn in (("retrieval", retrieve), ("generation", generate), ("memory_update", remember)):
                fn(rng.uniform(*DELAYS_MS[stage]))
    embedded = tel.report()
    dump = tmp_path / "stats.json"
    tel.dump(str(dump))
    assert tel.shutdown(timeout=30)
    assert counts(embedded) == {stage: N for stage in DELAYS_MS}

    from_dump = report_json([str(dump)], capsys)
    assert from_dump.stages == embedded.stages

    from_jaeger = read_back(["--jaeger", stack.jaeger_url, "--service", SERVICE, "--since", "1h"], embedded, capsys)
    # Each sketch is within 1% of the truth: within 2% of each other.
    assert_agrees(from_jaeger, embedded, lambda stage, q, have, want: have == pytest.approx(want, rel=0.021))
    gen = from_jaeger.stage(semconv.Stage.GENERATION.value)
    assert gen is not None and gen.cost_usd == pytest.approx(embedded.usage.total_cost_usd)

    from_prom = read_back(["--prometheus", stack.prometheus_url, "--service", SERVICE], embedded, capsys)
    durations: dict[str, list[float]] = {stage: [] for stage in DELAYS_MS}
    for span in spans.get_finished_spans():
        name = str((span.attributes or {}).get(semconv.CHATBOT_STAGE))
        if name in durations and span.start_time is not None and span.end_time is not None:
            durations[name].append((span.end_time - span.start_time) / 1e6)
    assert {stage: len(d) for stage, d in durations.items()} == {stage: N for stage in DELAYS_MS}

    def in_prometheus_bucket(stage: str, q: float, have: float, want: float) -> bool:
        lower, upper = prometheus_bucket(durations[stage], q)
        return lower <= have <= upper

    assert_agrees(from_prom, embedded, in_prometheus_bucket)
    # Most runs: every duration inside its planned bucket, so the sketch's value shares the bucket too.
    if all(bucket(d) == bucket(DELAYS_MS[stage][0]) for stage, ds in durations.items() for d in ds):
        assert_agrees(from_prom, embedded, lambda stage, q, have, want: bucket(want)[0] <= have <= bucket(want)[1])


def read_back(args: list[str], embedded: StatsSnapshot, capsys: pytest.CaptureFixture[str]) -> StatsSnapshot:
    """``otel-chatbot report ARGS`` once the source has every stage call the app made (data arrives asynchronously)."""
    found = eventually(lambda: s if counts(s := report_json(args, capsys)) == counts(embedded) else None)
    assert found is not None, counts(report_json(args, capsys))
    return found


def assert_agrees(
    source: StatsSnapshot, embedded: StatsSnapshot, percentile_agrees: Callable[[str, float, float, float], bool]
) -> None:
    """Every stage read back has the embedded mean and share; ``percentile_agrees(stage, q, have, want)`` for p50,
    p95, p99."""
    for want in embedded.stages:
        have = source.stage(want.stage)
        assert have is not None
        assert have.latency.mean_ms == pytest.approx(want.latency.mean_ms, rel=0.001)
        for field, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            values = getattr(have.latency, field), getattr(want.latency, field)
            assert percentile_agrees(want.stage, q, *values), (want.stage, field, values)
        assert have.share == pytest.approx(want.share, rel=0.001)
