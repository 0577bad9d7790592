"""Returned streams of the other SDKs: a decorated plain function that returns anthropic's ``Stream`` /
``AsyncStream`` or google-genai's stream is measured over the caller's iteration, with the stream's final usage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import RawMessageStreamEvent
from google import genai
from google.genai import types
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from tests.sdk._oracle import genai_cost, genai_usage
from tests.sdk._spans import only_stage_span, stage_spans
from tests.sdk.conftest import TTFT_MS, traced_warm_up
from tests.sdk.test_anthropic import _accumulated, _dump

pytestmark = pytest.mark.usefixtures("tracer_provider")

CLAUDE = "claude-haiku-4-5"
GEMINI = "gemini-2.5-flash"
TOLERANCE_S = 0.08
REQUEST: dict[str, Any] = {"model": CLAUDE, "max_tokens": 512, "messages": [{"role": "user", "content": "returns?"}]}
_FRESH = {"limits": httpx2.Limits(max_keepalive_connections=0)}


def _check_ended_by_iteration(span: Any, returned_ns: int, last_ns: int, done_ns: int) -> dict[str, Any]:
    assert returned_ns < last_ns <= span.end_time <= done_ns  # ended after the last chunk, not at the return
    attrs: dict[str, Any] = dict(span.attributes or {})
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is True
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert TTFT_MS / 1000 <= ttfc <= TTFT_MS / 1000 + TOLERANCE_S
    assert attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN] == ttfc  # plain text: the first chunk is text
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs
    return attrs


# --- anthropic --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _warm(llm_url: str) -> None:
    """The SDKs' first stream parse in a process is slow (pydantic builds each event model on first use, lazy
    imports, the anthropic SDK's own tracing): one unmeasured stream of each kind, returned from a stage as the tests
    do, sync and async, before any measured span."""
    options = types.HttpOptions(base_url=llm_url, client_args=_FRESH, async_client_args=_FRESH)

    @oc.traced_stage("generation", model=CLAUDE, provider="anthropic")
    def claude_stream(claude: anthropic.Anthropic) -> Any:
        return claude.messages.create(stream=True, **REQUEST)

    @oc.traced_stage("generation", model=CLAUDE, provider="anthropic")
    async def claude_astream(claude: anthropic.AsyncAnthropic) -> Any:
        return await claude.messages.create(stream=True, **REQUEST)

    @oc.traced_stage("generation", model=GEMINI, provider="gcp.gemini")
    def gemini_stream(gemini: genai.Client) -> Any:
        return gemini.models.generate_content_stream(model=GEMINI, contents="warm up")

    @oc.traced_stage("generation", model=GEMINI, provider="gcp.gemini")
    async def gemini_astream(gemini: genai.client.AsyncClient) -> Any:
        return await gemini.models.generate_content_stream(model=GEMINI, contents="warm up")

    async def warm_async() -> None:
        async with anthropic.AsyncAnthropic(base_url=llm_url, api_key="k", max_retries=0) as claude:
            await _aiterate(await claude_astream(claude))
        with genai.Client(api_key="k", http_options=options) as sync_client:
            async with sync_client.aio as gemini:
                await _aiterate(await gemini_astream(gemini))

    with traced_warm_up():
        with anthropic.Anthropic(base_url=llm_url, api_key="k", max_retries=0) as claude:
            _iterate(claude_stream(claude))
        with genai.Client(api_key="k", http_options=options) as gemini:
            _iterate(gemini_stream(gemini))
        asyncio.run(warm_async())


def _iterate(stream: Iterator[Any]) -> tuple[list[Any], int]:
    """The chunks, and when the last one reached the caller."""
    chunks, last_ns = [], 0
    for chunk in stream:
        chunks.append(chunk)
        last_ns = time.time_ns()
    return chunks, last_ns


async def _aiterate(stream: AsyncIterator[Any]) -> tuple[list[Any], int]:
    chunks, last_ns = [], 0
    async for chunk in stream:
        chunks.append(chunk)
        last_ns = time.time_ns()
    return chunks, last_ns


def _check_anthropic(attrs: dict[str, Any], events: list[Any]) -> None:
    """Tokens, id and finish reason of the SDK's own accumulation of the events, genai-prices' reading and price."""
    final = _accumulated(events)
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 2
    oracle = genai_usage(_dump(final), "anthropic")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == final.usage.input_tokens == oracle.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens == oracle.output_tokens
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == oracle.cache_read_tokens
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == final.id and final.id.startswith("msg_")
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == final.model
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == (final.stop_reason,)
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(genai_cost(oracle, CLAUDE, "anthropic"), rel=1e-9)
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"


def test_a_returned_anthropic_stream(llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    with anthropic.Anthropic(base_url=llm_url, api_key="k", max_retries=0) as claude:

        @oc.traced_stage("generation", model=CLAUDE, provider="anthropic")
        def answer() -> anthropic.Stream[RawMessageStreamEvent]:
            stream: anthropic.Stream[RawMessageStreamEvent] = claude.messages.create(stream=True, **REQUEST)
            return stream

        stream = answer()
        returned_ns = time.time_ns()
        assert isinstance(stream, anthropic.Stream)
        assert not stage_spans(span_exporter)  # returned: the span is still open
        events, last_ns = _iterate(stream)
        done_ns = time.time_ns()
    _check_anthropic(_check_ended_by_iteration(only_stage_span(span_exporter), returned_ns, last_ns, done_ns), events)


def test_a_returned_anthropic_async_stream(llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    async def main() -> tuple[list[Any], int, int, int]:
        async with anthropic.AsyncAnthropic(base_url=llm_url, api_key="k", max_retries=0) as claude:

            @oc.traced_stage("generation", model=CLAUDE, provider="anthropic")
            async def answer() -> anthropic.AsyncStream[RawMessageStreamEvent]:
                stream: anthropic.AsyncStream[RawMessageStreamEvent] = await claude.messages.create(
                    stream=True, **REQUEST
                )
                return stream

            stream = await answer()
            returned_ns = time.time_ns()
            assert isinstance(stream, anthropic.AsyncStream)
            assert not stage_spans(span_exporter)
            events, last_ns = await _aiterate(stream)
            return events, returned_ns, last_ns, time.time_ns()

    events, returned_ns, last_ns, done_ns = asyncio.run(main())
    _check_anthropic(_check_ended_by_iteration(only_stage_span(span_exporter), returned_ns, last_ns, done_ns), events)


# --- google-genai -----------------------------------------------------------------------------------------------


def _check_gemini(attrs: dict[str, Any], chunks: list[types.GenerateContentResponse]) -> None:
    """Tokens of the last chunk (a running total on every chunk: the last is final), id, finish reason, cost."""
    assert len(chunks) > 2
    final = chunks[-1]
    usage = final.usage_metadata
    assert usage is not None
    oracle = genai_usage(final.model_dump(mode="json", by_alias=True, exclude_none=True), "google")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage.prompt_token_count == oracle.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.candidates_token_count == oracle.output_tokens
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == oracle.reported_value("cache_read_tokens")
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == final.response_id
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == final.model_version == GEMINI
    reasons = tuple(c.finish_reason.name for chunk in chunks for c in chunk.candidates or () if c.finish_reason)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == reasons == ("STOP",)
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(genai_cost(oracle, GEMINI, "google"), rel=1e-9)
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"


def test_a_returned_gemini_stream(llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    options = types.HttpOptions(base_url=llm_url, client_args=_FRESH)
    with genai.Client(api_key="k", http_options=options) as gemini:

        @oc.traced_stage("generation", model=GEMINI, provider="gcp.gemini")
        def answer() -> Iterator[types.GenerateContentResponse]:
            return gemini.models.generate_content_stream(model=GEMINI, contents="How do refunds work?")

        stream = answer()
        returned_ns = time.time_ns()
        assert not stage_spans(span_exporter)
        chunks, last_ns = _iterate(stream)
        done_ns = time.time_ns()
    _check_gemini(_check_ended_by_iteration(only_stage_span(span_exporter), returned_ns, last_ns, done_ns), chunks)


def test_a_returned_gemini_async_stream(llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    """``await client.aio.models.generate_content_stream(...)`` returned from an ``async def``: an async generator."""

    async def main() -> tuple[list[types.GenerateContentResponse], int, int, int]:
        options = types.HttpOptions(base_url=llm_url, async_client_args=_FRESH)
        with genai.Client(api_key="k", http_options=options) as sync_client:
            async with sync_client.aio as gemini:

                @oc.traced_stage("generation", model=GEMINI, provider="gcp.gemini")
                async def answer() -> AsyncIterator[types.GenerateContentResponse]:
                    return await gemini.models.generate_content_stream(model=GEMINI, contents="How do refunds work?")

                stream = await answer()
                returned_ns = time.time_ns()
                assert not stage_spans(span_exporter)
                chunks, last_ns = await _aiterate(stream)
                return chunks, returned_ns, last_ns, time.time_ns()

    chunks, returned_ns, last_ns, done_ns = asyncio.run(main())
    _check_gemini(_check_ended_by_iteration(only_stage_span(span_exporter), returned_ns, last_ns, done_ns), chunks)
