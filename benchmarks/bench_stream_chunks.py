"""Per-chunk cost of a traced 50-chunk OpenAI stream against a bare OTel span over the same generator.

Usage: ``PYTHONPATH=$PWD python benchmarks/bench_stream_chunks.py [--gc off] [--rounds 9] [--streams 2000]
[--no-sdk]`` (interleaved rounds; GC on unless ``--gc off``; spans through a BatchSpanProcessor to an exporter that
drops them).

Rows, each a stream of 50 chunks (49 text deltas, then the usage chunk) consumed by ``for chunk in ...``:

- ``bare``: a bare OTel span held around the plain generator (the issue's reference);
- ``hand``: the same span with the 16 attributes a traced stream gets, set by hand (static ones at start, the times
  to first chunk and first token at the first chunk, usage, cost, model, id and chunk count at the end): the floor
  for any instrumentation that records what we record;
- ``ours``: ``@traced_stage("generation", ...)`` on the generator, chunks as OpenAI JSON dicts;
- ``sdk bare`` / ``sdk ours``: the same with real ``openai.types.chat.ChatCompletionChunk`` objects, captured once
  from a real ``client.chat.completions.create(stream=True)`` against the local LLM server (``examples/llm_server``)
  on loopback, then replayed (skipped with ``--no-sdk`` or when openai is not installed).

Each row also runs as a 1-chunk stream (the usage chunk only): the difference between the two, over 49, is the cost
added per chunk, separate from the per-stream cost (span start, attributes, usage and cost at the end). Ratios are
medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.util.types import AttributeValue

import otel_chatbot as oc
from otel_chatbot import semconv

CHUNKS = 50


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _dict_chunks(n: int) -> list[dict[str, Any]]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    text = {**head, "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}
    usage = {"prompt_tokens": 100, "completion_tokens": n - 1, "total_tokens": 99 + n}
    return [*(dict(text) for _ in range(n - 1)), {**head, "choices": [], "usage": usage}]


def _sdk_chunks(n: int) -> list[Any]:
    """``n`` real ChatCompletionChunk objects: text deltas of real streams from the local LLM server, usage last."""
    import openai

    from examples.llm_server.server import ServerConfig, create_app
    from tests._servers import serve_asgi

    config = ServerConfig(seed=3, ttft_ms=0.0, ttft_sigma=0.0, tokens_per_s=1e6, outlier_rate=0.0)
    with serve_asgi(create_app(config), access_log=False) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-local", max_retries=0)
        texts: list[Any] = []
        while len(texts) < n - 1:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Tell me a long story."}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(stream)
            usage = chunks[-1]
            texts += [c for c in chunks if c.choices and c.choices[0].delta.content]
    if usage.usage is None:
        raise RuntimeError("the local LLM server sent no usage chunk")
    return [*texts[: n - 1], usage]


def _rows(tracer: trace.Tracer, chunks: list[Any], prefix: str, hand: bool) -> dict[str, Callable[[], None]]:
    def generate() -> Iterator[Any]:
        yield from chunks

    def bare() -> None:
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT):
            for _ in generate():
                pass

    static: dict[str, AttributeValue] = {
        semconv.CHATBOT_STAGE: "generation",
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_REQUEST_STREAM: True,
    }

    def by_hand() -> None:
        t0 = time.perf_counter()
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT, attributes=static) as span:
            first = None
            last: Any = None
            count = 0
            for chunk in generate():
                if first is None:
                    first = time.perf_counter() - t0
                count += 1
                last = chunk
            usage = last["usage"]
            span.set_attributes(
                {
                    semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: first or 0.0,
                    semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN: first or 0.0,
                    semconv.CHATBOT_RESPONSE_CHUNKS: count,
                    semconv.GEN_AI_RESPONSE_MODEL: last["model"],
                    semconv.GEN_AI_RESPONSE_ID: last["id"],
                    semconv.GEN_AI_USAGE_INPUT_TOKENS: usage["prompt_tokens"],
                    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage["completion_tokens"],
                    semconv.GEN_AI_USAGE_COST_SOURCE: "local",
                    semconv.CHATBOT_COST_PRICE_VERSION: "genai-prices",
                    semconv.GEN_AI_USAGE_COST_AMOUNT: 0.0001,
                    semconv.GEN_AI_USAGE_COST_CURRENCY: "USD",
                }
            )

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def traced() -> Iterator[Any]:
        yield from chunks

    def ours() -> None:
        for _ in traced():
            pass

    rows = {f"{prefix}bare": bare, f"{prefix}ours": ours}
    if hand:
        rows[f"{prefix}hand"] = by_hand
    return rows


def _per_stream_us(fn: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gc", choices=["on", "off"], default="on")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--no-sdk", action="store_true")
    args = parser.parse_args()

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("bench")

    rows: dict[str, Callable[[], None]] = {}
    for n in (CHUNKS, 1):
        suffix = f"/{n}"
        for name, fn in _rows(tracer, _dict_chunks(n), "", hand=True).items():
            rows[name + suffix] = fn
    if not args.no_sdk:
        try:
            sdk = _sdk_chunks(CHUNKS)
        except ImportError as exc:
            print(f"(no SDK rows: {exc})")
        else:
            for n, chunks in ((CHUNKS, sdk), (1, sdk[-1:])):
                for name, fn in _rows(tracer, chunks, "sdk ", hand=False).items():
                    rows[f"{name}/{n}"] = fn

    for fn in rows.values():  # warm-up
        _per_stream_us(fn, 200)
    if args.gc == "off":
        gc.disable()
    results: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            results[name].append(_per_stream_us(fn, args.streams))
        if args.gc == "on":
            gc.collect()
    provider.shutdown()

    med = {name: statistics.median(values) for name, values in results.items()}
    print(f"GC {args.gc}, {args.rounds} interleaved rounds of {args.streams} streams; us per stream (min / median)")
    for name, values in results.items():
        print(f"  {name:14s} {min(values):8.1f} {med[name]:8.1f}")
    for prefix in ("", "sdk "):
        if f"{prefix}bare/{CHUNKS}" not in med:
            continue
        for ref in ("bare", "hand"):
            if f"{prefix}{ref}/{CHUNKS}" not in med:
                continue
            ours, base = results[f"{prefix}ours/{CHUNKS}"], results[f"{prefix}{ref}/{CHUNKS}"]
            ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
            print(f"{prefix}ours / {prefix}{ref} ({CHUNKS} chunks): {ratio:.2f}x")
        per_chunk = (
            (med[f"{prefix}ours/{CHUNKS}"] - med[f"{prefix}bare/{CHUNKS}"])
            - (med[f"{prefix}ours/1"] - med[f"{prefix}bare/1"])
        ) / (CHUNKS - 1)
        per_stream = med[f"{prefix}ours/1"] - med[f"{prefix}bare/1"]
        print(f"{prefix}added per chunk: {per_chunk:.2f} us; per stream (a 1-chunk stream): {per_stream:.1f} us")


if __name__ == "__main__":
    main()
