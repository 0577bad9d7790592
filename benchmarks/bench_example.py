"""What the telemetry costs the example chatbot per chat request, with a provider that answers instantly.

Run: python -m benchmarks.bench_example [--rounds 9] [--requests 200]

A: the app as the demo runs it: FastAPI and httpx instrumentation, stage spans, an SDK TracerProvider with the
embedded statistics and a BatchSpanProcessor to an exporter that drops spans. B: the same app with no
instrumentation and no SDK (every ``traced_stage`` is a plain call). Requests go in-process (httpx ASGITransport,
no sockets) and the "provider" is an ``httpx.MockTransport`` that replies at once, so the difference is all
telemetry; a real provider adds hundreds of milliseconds per request to both. Rounds interleave A and B; figures
are medians over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from examples.rag_chatbot.app import create_app
from examples.rag_chatbot.settings import Settings
from otel_chatbot.stats import StatsSpanProcessor
from otel_chatbot.testing import reset_trace_globals

USAGE = {
    "prompt_tokens": 1063,
    "completion_tokens": 40,
    "total_tokens": 1103,
    "prompt_tokens_details": {"cached_tokens": 768},
}


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _provider_reply(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if not body.get("stream"):
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "gpt-4o-mini",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "word " * 40}, "finish_reason": "stop"}
                ],
                "usage": USAGE,
            },
        )
    chunks: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": "word "}}]} for _ in range(40)]
    chunks += [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, {"choices": [], "usage": USAGE}]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


async def _round(client: httpx.AsyncClient, requests: int, offset: int) -> float:
    """Seconds per request: alternating JSON and streamed turns, all cache misses."""
    start = time.perf_counter()
    for i in range(requests):
        body: dict[str, Any] = {
            "message": f"How do I export my notes? ({offset + i})",
            "user_id": f"u{i % 7}",
            "stream": i % 2 == 1,
        }
        response = await client.post("/chat", json=body)
        assert response.status_code == 200, response.text
    return (time.perf_counter() - start) / requests


async def _run(rounds: int, requests: int) -> tuple[list[float], list[float]]:
    provider = TracerProvider()
    provider.add_span_processor(StatsSpanProcessor(service_name="bench"))
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 16))
    settings = Settings(openai_base_url="http://llm.bench/v1")
    headers = {"authorization": "Bearer demo-acme"}
    instrumented = create_app(settings, tracer_provider=provider, transport=httpx.MockTransport(_provider_reply))
    bare = create_app(settings, transport=httpx.MockTransport(_provider_reply), instrument=False)
    a_times, b_times = [], []
    async with (
        instrumented.router.lifespan_context(instrumented),
        bare.router.lifespan_context(bare),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=instrumented), base_url="http://app", headers=headers) as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://app", headers=headers) as b,
    ):
        for r in range(rounds + 1):  # round 0 warms both up and is not counted
            reset_trace_globals()
            b_s = await _round(b, requests, 10_000 * r)
            trace.set_tracer_provider(provider)
            a_s = await _round(a, requests, 10_000 * r + 5_000)
            if r:
                a_times.append(a_s)
                b_times.append(b_s)
    reset_trace_globals()
    provider.shutdown()
    return a_times, b_times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    a_times, b_times = asyncio.run(_run(args.rounds, args.requests))
    a_ms, b_ms = statistics.median(a_times) * 1e3, statistics.median(b_times) * 1e3
    ratios = sorted(a / b for a, b in zip(a_times, b_times, strict=True))
    print(f"uninstrumented     {b_ms:.3f} ms per chat request (median of {args.rounds} rounds)")
    print(f"with telemetry     {a_ms:.3f} ms per chat request")
    print(
        f"telemetry costs    {a_ms - b_ms:.3f} ms per request; per-round ratio median {statistics.median(ratios):.2f}x "
        f"(min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
