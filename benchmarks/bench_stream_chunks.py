"""Per-chunk cost of a traced 50-chunk OpenAI-shaped stream against a bare OTel span over the same generator.

Usage: ``PYTHONPATH=$PWD python benchmarks/bench_stream_chunks.py`` (9 interleaved rounds of 2,000 streams; GC on;
spans through a BatchSpanProcessor to an exporter that drops them).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_chatbot as oc


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _chunks() -> Iterator[dict[str, Any]]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for _ in range(48):
        yield {**head, "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}
    yield {**head, "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 48, "total_tokens": 148}}


def _per_stream_us(make: Callable[[], Iterator[Any]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        for _ in make():
            pass
    return (time.perf_counter() - start) / n * 1e6


def main(rounds: int = 9, streams: int = 2000) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop()))
    trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("bench")

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def traced() -> Iterator[dict[str, Any]]:
        yield from _chunks()

    def bare() -> Iterator[dict[str, Any]]:
        with tracer.start_as_current_span("chat gpt-4o-mini"):
            yield from _chunks()

    bare_us, traced_us, ratios = [], [], []
    for _ in range(rounds):
        b, t = _per_stream_us(bare, streams), _per_stream_us(traced, streams)
        bare_us.append(b)
        traced_us.append(t)
        ratios.append(t / b)
    b, t = statistics.median(bare_us), statistics.median(traced_us)
    print(f"bare span over the stream : {b:.1f} us/stream")
    print(f"@traced_stage generator   : {t:.1f} us/stream")
    ratio = statistics.median(ratios)
    print(f"ratio (median of {rounds} interleaved rounds): {ratio:.2f}x; +{(t - b) / 50:.2f} us/chunk")
    provider.shutdown()


if __name__ == "__main__":
    main()
