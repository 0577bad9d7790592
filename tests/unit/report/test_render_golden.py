"""The whole report, byte for byte: deterministic snapshots rendered as a table, Markdown and JSON against golden files.

The snapshots come from real spans through ``StatsSpanProcessor`` with sequential trace ids, exact timestamps and a
fixed clock, so the files pin the renderer (every section, in order) and the statistics behind it. After a deliberate
change to the report, regenerate them and review the diff::

    UPDATE_GOLDEN=1 python -m pytest tests/unit/report/test_render_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind

from otel_chatbot import semconv
from otel_chatbot.report._render import Format, render
from otel_chatbot.stats._snapshot import StatsSnapshot
from tests._embedded_helpers import MS, T0, TraceBuilder, generation_attrs, stage_attrs

GOLDEN = Path(__file__).parent / "golden"
EXTENSION = {"table": "txt", "markdown": "md", "json": "json"}


class _SequentialIds(IdGenerator):
    def __init__(self) -> None:
        self._next = 0

    def _id(self) -> int:
        self._next += 1
        return self._next

    def generate_span_id(self) -> int:
        return self._id()

    def generate_trace_id(self) -> int:
        return self._id() << 64 | 0xABC


def _builder() -> TraceBuilder:
    tb = TraceBuilder(clock=lambda: 1_700_000_000.0)
    tb.provider = TracerProvider(id_generator=_SequentialIds())
    tb.provider.add_span_processor(tb.processor)
    tb.tracer = tb.provider.get_tracer("golden")
    return tb


def _chatbot(*, gen_ms: float, cost: float, cache: bool = True) -> StatsSnapshot:
    """Every section of the report: stages (two nested in generation), models, streams, errors, usage tables with
    a "more" row, caches, the provider prompt cache, variants, feedback with and without a variant, recommendations
    with trace ids."""
    tb = _builder()
    for i in range(24):
        conv = {semconv.GEN_AI_CONVERSATION_ID: f"c-{i % 12:02d}"}
        variant = {semconv.CHATBOT_VARIANT: "concise" if i % 2 else "detailed", **conv}
        with tb.request(gen_ms + 300 + 7 * i, start_ms=i * 10_000) as req:
            if cache:
                hit = {semconv.CHATBOT_CACHE_HIT: i % 4 == 0}
                req.stage("response_cache", 0, 0.4, stage_attrs("response_cache", hit))
            req.stage(
                "retrieval",
                1,
                1500 if i == 23 else 30 + i,
                stage_attrs("retrieval", variant),
                error="TimeoutError" if i % 8 == 0 else None,
            )
            model, provider = ("claude-3-5-haiku", "anthropic") if i % 3 == 0 else ("gpt-4o-mini", "openai")
            extra = {
                **variant,
                semconv.GEN_AI_REQUEST_STREAM: True,
                semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.1 + i / 100,
                semconv.USER_ID: f"user-{i % 13:02d}",
                semconv.CHATBOT_TENANT_ID: "acme" if i % 5 else "globex",
            }
            if model == "gpt-4o-mini":
                extra[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = 300 + i
            else:  # Claude thinks first: its first visible token comes 0.4 s after its first (thinking) chunk
                extra[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN] = 0.5 + i / 100
            gen = req.stage(
                "generation",
                200,
                gen_ms + 11 * i,
                generation_attrs(
                    model,
                    provider=provider,
                    inp=1000 + 10 * i,
                    out=40 + i,
                    cost=None if i == 5 else (120.0 if i == 7 else cost * (1 + i / 10)),
                    extra=extra,
                ),
                error="RateLimitError" if i == 9 else None,
            )
            # The provider's time to the first byte and the stream after it, nested in generation (the example app).
            req.stage("backend_ttfb", 201, 90 + i, parent=gen)
            req.stage("stream_processing", 291 + i, gen_ms - 100, parent=gen)
            req.stage("memory_update", gen_ms + 250, 5 + i % 4, error="OperationalError" if i == 11 else None)
    for i, (score, conversation) in enumerate(((1.0, "c-01"), (-1.0, "c-02"), (1.0, "c-03"), (0.0, "unknown"))):
        start = T0 + (300_000 + i * 1000) * MS
        span = tb.tracer.start_span("POST /feedback", kind=SpanKind.SERVER, start_time=start)
        span.add_event(
            semconv.CHATBOT_FEEDBACK_EVENT,
            {semconv.CHATBOT_FEEDBACK_SCORE: score, semconv.GEN_AI_CONVERSATION_ID: conversation},
        )
        span.end(end_time=start + 2 * MS)
    snapshot: StatsSnapshot = tb.snapshot()
    return snapshot


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs (UPDATE_GOLDEN=1 rewrites it; review the diff)"


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_full_report_is_byte_identical(fmt: Format) -> None:
    _check(f"chatbot.{EXTENSION[fmt]}", render(_chatbot(gen_ms=2500, cost=0.002), fmt))


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_report_against_a_baseline_is_byte_identical(fmt: Format) -> None:
    baseline = _chatbot(gen_ms=1200, cost=0.001, cache=False)
    _check(f"chatbot_vs_baseline.{EXTENSION[fmt]}", render(_chatbot(gen_ms=2500, cost=0.002), fmt, baseline=baseline))


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_empty_report_is_byte_identical(fmt: Format) -> None:
    _check(f"empty.{EXTENSION[fmt]}", render(_builder().snapshot(), fmt))
