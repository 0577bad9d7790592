"""Cost of poison-proofing (issue 13, item 2): ``exportable_spans`` per span on the normal path (nothing to repair),
the repair path, and the SDK's ``SpanLimits`` (attribute value length) on the span path.

Run: python -m benchmarks.bench_sanitize [--rounds 9] [--spans 512] [--calls 20000]

Part 1 times ``exportable_spans`` on batches of real stage spans (a priced generation with conversation ids; one in
ten failed with an exception event) next to the OTLP encoding of the same batch, which every export pays anyway.
Part 2 interleaves rounds (A, B, A, B...) of the same span with the provider's ``SpanLimits`` unset (no length
limit) and set to 16384 characters, and reports the median of the per-round differences.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot._sanitize import exportable_spans
from otel_chatbot.testing import reset_trace_globals


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Refunds: 5 days."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 812, "completion_tokens": 95, "total_tokens": 907},
}


def _stage_spans(count: int) -> list[ReadableSpan]:
    """``count`` real stage spans from configure() + traced_stage (one in ten failed: an exception event)."""
    reset_trace_globals()
    memory = InMemorySpanExporter()
    tel = oc.configure("bench-sanitize", embedded=False, span_processors=[SimpleSpanProcessor(memory)])

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def generate(i: int) -> dict[str, Any]:
        if i % 10 == 9:
            raise ValueError(f"upstream said no to request {i} (status 429: rate limited, retry after 2 s)")
        return RESPONSE

    for i in range(count):
        with oc.conversation(conversation_id=f"c-{i}", user_id="u-7", tenant_id="acme"):
            try:
                generate(i)
            except ValueError:
                pass
    tel.shutdown()
    spans = list(memory.get_finished_spans())
    reset_trace_globals()
    return spans


def _best_ns(fn: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - start)
    return best


def bench_exportable_spans(rounds: int, batch: int) -> dict[str, float]:
    spans = _stage_spans(batch)
    assert exportable_spans(spans) is spans  # the normal path: nothing to repair
    poisoned = _stage_spans(batch)
    for span in poisoned:  # the worst case: every span needs a copy
        span._status = span._status.__class__(span._status.status_code, "bad \ud800")
    scan = _best_ns(lambda: exportable_spans(spans), rounds) / batch
    repair = _best_ns(lambda: exportable_spans(poisoned), rounds) / batch
    encode = _best_ns(lambda: encode_spans(spans).SerializeToString(), rounds) / batch
    return {"scan_ns_per_span": scan, "repair_ns_per_span": repair, "encode_ns_per_span": encode}


def bench_span_limits(rounds: int, calls: int) -> dict[str, float]:
    """The same span (8 attributes, one event) under a provider without and with a 16384-character limit."""
    tracers = {}
    for name, limits in (("unlimited", SpanLimits()), ("16384", SpanLimits(max_attribute_length=16384))):
        provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(DropExporter()))
        tracers[name] = provider.get_tracer("bench")
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.provider.name": "openai",
        "gen_ai.conversation.id": "c-42",
        "user.id": "u-7",
        "chatbot.tenant.id": "acme",
        "gen_ai.usage.input_tokens": 812,
        "gen_ai.usage.output_tokens": 95,
    }

    def run(tracer: Any) -> float:
        start = time.perf_counter_ns()
        for _ in range(calls):
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes) as span:
                span.set_attribute("gen_ai.response.id", "chatcmpl-1")
                span.add_event("exception", {"exception.type": "ValueError", "exception.message": "no"})
        return (time.perf_counter_ns() - start) / calls

    unlimited, limited, diffs = [], [], []
    for _ in range(rounds):
        a = run(tracers["unlimited"])
        b = run(tracers["16384"])
        unlimited.append(a)
        limited.append(b)
        diffs.append(b - a)
    return {
        "unlimited_ns": statistics.median(unlimited),
        "limited_ns": statistics.median(limited),
        "median_diff_ns": statistics.median(diffs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    export = bench_exportable_spans(args.rounds, args.spans)
    print(f"exportable_spans, batches of {args.spans} stage spans (best of {args.rounds}):")
    print(f"  normal path (scan, same objects back): {export['scan_ns_per_span'] / 1000:.2f} us/span")
    print(f"  repair path (every span copied):       {export['repair_ns_per_span'] / 1000:.2f} us/span")
    print(f"  OTLP encoding of the same batch:       {export['encode_ns_per_span'] / 1000:.2f} us/span")
    limits = bench_span_limits(args.rounds, args.calls)
    print(f"SpanLimits on the span path ({args.calls} spans x {args.rounds} interleaved rounds, medians):")
    print(f"  no length limit: {limits['unlimited_ns'] / 1000:.2f} us/span")
    print(f"  16384 chars:     {limits['limited_ns'] / 1000:.2f} us/span")
    print(f"  difference:      {limits['median_diff_ns'] / 1000:+.2f} us/span")


if __name__ == "__main__":
    main()
