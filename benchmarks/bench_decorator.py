"""Overhead of @traced_stage against a bare OpenTelemetry span with the same attributes, in the same process.

Run: python -m benchmarks.bench_decorator [--rounds 15] [--calls 20000]

Both sides use one TracerProvider + BatchSpanProcessor + an exporter that drops spans. Rounds interleave the two
(A, B, A, B, ...) so machine noise hits both alike; the figure is the median of the per-round ratios.
A second part measures the no-SDK pass-through: decorated vs plain function, with no TracerProvider installed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.testing import reset_trace_globals

RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Refunds take 5 days."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 812, "completion_tokens": 95, "total_tokens": 907},
}


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _per_call_ns(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls


def bench_span_overhead(rounds: int, calls: int) -> dict[str, float]:
    reset_trace_globals()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("bench")

    def bare() -> dict[str, Any]:
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT) as span:
            result = RESPONSE
            span.set_attributes(
                {
                    semconv.CHATBOT_STAGE: "generation",
                    semconv.GEN_AI_OPERATION_NAME: "chat",
                    semconv.GEN_AI_PROVIDER_NAME: "openai",
                    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    semconv.GEN_AI_RESPONSE_MODEL: result["model"],
                    semconv.GEN_AI_USAGE_INPUT_TOKENS: result["usage"]["prompt_tokens"],
                    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: result["usage"]["completion_tokens"],
                    semconv.GEN_AI_USAGE_COST_AMOUNT: 0.0001788,
                }
            )
            return result

    def bare_same() -> dict[str, Any]:
        # The same 10 attributes the decorated span ends with (+ response id and finish reasons), sampling-relevant
        # ones at start as the conventions ask.
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            kind=trace.SpanKind.CLIENT,
            attributes={
                semconv.CHATBOT_STAGE: "generation",
                semconv.GEN_AI_OPERATION_NAME: "chat",
                semconv.GEN_AI_PROVIDER_NAME: "openai",
                semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            },
        ) as span:
            result = RESPONSE
            span.set_attributes(
                {
                    semconv.GEN_AI_RESPONSE_MODEL: result["model"],
                    semconv.GEN_AI_RESPONSE_ID: result["id"],
                    semconv.GEN_AI_RESPONSE_FINISH_REASONS: [c["finish_reason"] for c in result["choices"]],
                    semconv.GEN_AI_USAGE_INPUT_TOKENS: result["usage"]["prompt_tokens"],
                    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: result["usage"]["completion_tokens"],
                    semconv.GEN_AI_USAGE_COST_AMOUNT: 0.0001788,
                }
            )
            return result

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def decorated() -> dict[str, Any]:
        return RESPONSE

    for fn in (bare, bare_same, decorated):  # warm up (price lookup cache, code paths)
        _per_call_ns(fn, 2000)
    ratios, ratios_same, bare_ns, same_ns, ours_ns = [], [], [], [], []
    for _ in range(rounds):
        b = _per_call_ns(bare, calls)
        d = _per_call_ns(decorated, calls)
        s = _per_call_ns(bare_same, calls)
        bare_ns.append(b)
        same_ns.append(s)
        ours_ns.append(d)
        ratios.append(d / b)
        ratios_same.append(d / s)
    provider.shutdown()
    reset_trace_globals()
    return {
        "bare_us": statistics.median(bare_ns) / 1000,
        "same_us": statistics.median(same_ns) / 1000,
        "decorated_us": statistics.median(ours_ns) / 1000,
        "ratio": statistics.median(ratios),
        "ratio_same": statistics.median(ratios_same),
    }


def bench_passthrough(rounds: int, calls: int) -> dict[str, float]:
    reset_trace_globals()  # no SDK: the global provider is OTel's no-op proxy

    def plain(x: int) -> int:
        return x

    decorated = oc.traced_stage("generation", model="gpt-4o-mini")(plain)
    deltas, plain_ns = [], []
    for _ in range(rounds):
        p = _per_call_ns(lambda: plain(1), calls)
        d = _per_call_ns(lambda: decorated(1), calls)
        plain_ns.append(p)
        deltas.append(d - p)
    return {"plain_ns": statistics.median(plain_ns), "added_ns": statistics.median(deltas)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args(argv)
    span = bench_span_overhead(args.rounds, args.calls)
    print(f"bare span + 8 attributes      : {span['bare_us']:.2f} us/call")
    print(f"bare span + the same 10 attrs : {span['same_us']:.2f} us/call")
    print(f"@traced_stage generation call : {span['decorated_us']:.2f} us/call (usage extraction + cost)")
    print(
        f"ratio vs 8 attributes  (median of {args.rounds} interleaved rounds): {span['ratio']:.3f}x  (target <= 1.2x)"
    )
    print(f"ratio vs same 10 attrs (median of {args.rounds} interleaved rounds): {span['ratio_same']:.3f}x")
    passthrough = bench_passthrough(args.rounds, args.calls * 5)
    print(
        f"no-SDK pass-through: +{passthrough['added_ns']:.0f} ns over a plain call "
        f"({passthrough['plain_ns']:.0f} ns)  (target <= 1000 ns)"
    )


if __name__ == "__main__":
    main()
