"""The aggregator alone: CPU per span of ``Aggregator.record_item`` over prebuilt items (no SDK, no processor), so
a change to the aggregation shows without the SDK's noise on a shared machine.

Run: python -m benchmarks.bench_aggregator [--requests 5000] [--rounds 25]

Two trace shapes: bench_embedded's (a SERVER root and 3 stage spans directly under it) and the example app's
(docs/example.md: 10 spans, retrieval nested in request_preparation, backend_ttfb and stream_processing in
generation, an httpx CLIENT span under backend_ttfb). Best of the rounds.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Mapping, Sequence
from typing import Any

from otel_chatbot import semconv
from otel_chatbot.stats._aggregator import Aggregator

Item = tuple[int, bool, str, str, str, int, int, Mapping[str, Any], Sequence[Mapping[str, Any]], int, int]
_US = 1000  # ns


def _stage(name: str) -> dict[str, Any]:
    return {semconv.CHATBOT_STAGE: name}


def flat(n: int) -> list[Item]:
    """Root + retrieval + priced generation + memory_update, each directly under the root (ended children first)."""
    items: list[Item] = []
    for i in range(n):
        trace, root, base = i + 1, 4 * i + 1, i * 10_000_000
        generation = {
            **_stage("generation"),
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 812,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 95,
            semconv.GEN_AI_USAGE_COST_AMOUNT: 0.0001788,
            semconv.USER_ID: f"u-{i % 500}",
            semconv.GEN_AI_CONVERSATION_ID: f"c-{i}",
            semconv.CHATBOT_TENANT_ID: f"t-{i % 7}",
        }
        children = [
            ("retrieval faq", _stage("retrieval"), 1, 2),
            ("chat", generation, 3, 8),
            ("update_memory", _stage("memory_update"), 8, 9),
        ]
        for j, (name, attrs, start, end) in enumerate(children, start=1):
            items.append(
                (trace, False, name, "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", base + start * _US, base + end * _US)
                + (attrs, (), root + j, root)
            )
        items.append(
            (trace, True, "POST /chat", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", base, base + 10 * _US, {}, ())
            + (root, 0)
        )
    return items


def nested(n: int) -> list[Item]:
    """The example app's trace, spans in the order they end."""
    names = ("root", "parse", "auth", "prep", "retr", "gen", "ttfb", "post", "stream", "mem")
    items: list[Item] = []
    for i in range(n):
        trace, base = i + 1, i * 10_000_000
        ids = {name: 10 * i + j + 1 for j, name in enumerate(names)}
        generation = {**_stage("generation"), semconv.GEN_AI_REQUEST_MODEL: "m", semconv.GEN_AI_USAGE_INPUT_TOKENS: 10}
        spans = (
            ("parse", "root", "request_parsing", _stage("request_parsing"), 0, 1),
            ("auth", "root", "auth_validation", _stage("auth_validation"), 1, 2),
            ("retr", "prep", "retrieval help-center", _stage("retrieval"), 3, 5),
            ("prep", "root", "request_preparation", _stage("request_preparation"), 2, 6),
            ("post", "ttfb", "POST", {"http.request.method": "POST"}, 7, 9),
            ("ttfb", "gen", "backend_ttfb", _stage("backend_ttfb"), 7, 9),
            ("stream", "gen", "stream_processing", _stage("stream_processing"), 9, 20),
            ("gen", "root", "chat gpt-4o-mini", generation, 6, 21),
            ("mem", "root", "update_memory", _stage("memory_update"), 21, 22),
        )
        for key, parent, name, attrs, start, end in spans:
            items.append(
                (trace, False, name, "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET", base + start * _US, base + end * _US)
                + (attrs, (), ids[key], ids[parent])
            )
        items.append(
            (trace, True, "POST /chat", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", base, base + 23 * _US, {}, ())
            + (ids["root"], 0)
        )
    return items


def per_span_us(items: Sequence[Item], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        record = Aggregator(service_name="bench").record_item
        gc.collect()
        gc.disable()
        start = time.thread_time()
        for item in items:
            record(item)
        elapsed = time.thread_time() - start
        gc.enable()
        best = min(best, elapsed / len(items) * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    flat_us = per_span_us(flat(args.requests), args.rounds)
    nested_us = per_span_us(nested(args.requests // 2), args.rounds)
    print(f"aggregator, bench_embedded's trace (4 spans): {flat_us:.2f} us/span")
    print(f"aggregator, the example app's trace (10 spans): {nested_us:.2f} us/span")


if __name__ == "__main__":
    main()
