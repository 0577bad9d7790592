"""What recording a call's metrics costs: the OpenTelemetry SDK's synchronous instruments against ``CallMetrics``.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_metrics.py`` (BENCHMARKS.md, section issue10).

A priced, streamed generation call records about ten measurements (stage and inference durations, time to first
chunk / first token / per output chunk, input and output tokens per call, two usage counters, USD). Measured in one
process, best of interleaved rounds, inside a sampled span (so the SDK's default exemplar filter is exercised):

- ``sdk measurement``: one ``Histogram.record`` with four low-cardinality attributes (a ``Counter.add`` is the same);
- ``sdk call``: those ten measurements through the SDK's instruments;
- ``CallMetrics.record``: the same call's measurements through our accumulators (what the span path pays).
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otel_chatbot import semconv
from otel_chatbot.telemetry._metrics import CallMetrics

ATTRIBUTES: dict[str, Any] = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_PROVIDER_NAME: "openai",
    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    semconv.CHATBOT_STAGE: "generation",
}
SPAN: dict[str, Any] = {
    **ATTRIBUTES,
    semconv.GEN_AI_USAGE_INPUT_TOKENS: 812,
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 95,
    semconv.GEN_AI_USAGE_COST_AMOUNT: 0.000179,
    semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.21,
    semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN: 0.24,
    semconv.CHATBOT_RESPONSE_CHUNKS: 95,
}


def _per_call_us(fn: Any, n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n * 1e6


def main(n: int = 20_000, rounds: int = 7) -> None:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    meter = provider.get_meter("bench")
    histogram = meter.create_histogram(
        "h", unit="s", explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS_S)
    )
    counter = meter.create_counter("c", unit="{token}")
    ours = CallMetrics("bench", exporter=None)

    def sdk_measurement() -> None:
        histogram.record(1.3, ATTRIBUTES)

    def sdk_call() -> None:
        for _ in range(7):
            histogram.record(1.3, ATTRIBUTES)
        for _ in range(3):
            counter.add(95, ATTRIBUTES)

    def our_call() -> None:
        ours.record(SPAN, 1.3, stage="generation", inference=True, stream=True, counted=True)

    tracer = TracerProvider().get_tracer("bench")
    best: dict[str, float] = {}
    with tracer.start_as_current_span("sampled"):
        for _ in range(rounds):
            for name, fn in (
                ("sdk measurement", sdk_measurement),
                ("sdk call", sdk_call),
                ("CallMetrics.record", our_call),
            ):
                best[name] = min(best.get(name, float("inf")), _per_call_us(fn, n // 10 if name == "sdk call" else n))
    for name, us in best.items():
        print(f"{name}: {us:.2f} us")
    print(f"ratio sdk call / CallMetrics.record: {best['sdk call'] / best['CallMetrics.record']:.1f}x")


if __name__ == "__main__":
    main()
