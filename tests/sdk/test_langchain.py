"""LangChain's ``ChatOpenAI`` (langchain-openai, Chat Completions) against the local server, in a generation stage.

Every number is checked against LangChain's own objects (``AIMessage.usage_metadata``, the sum of the streamed
``AIMessageChunk``s), against genai-prices' reading of the provider's raw usage where LangChain keeps it
(``response_metadata["token_usage"]``), and the cost against genai-prices' ``calc_price``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from tests.sdk._oracle import genai_cost, genai_usage
from tests.sdk._spans import only_attrs as _attrs
from tests.sdk.conftest import TTFT_MS

MODEL = "gpt-4o-mini"
TOLERANCE_S = 0.08
"""How far after the server's time to first token the span's may be (client, LangChain and scheduling overhead)."""

pytestmark = pytest.mark.usefixtures("tracer_provider")


def _chat(llm_url: str, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=llm_url + "/v1", api_key="x", model=MODEL, **options)  # type: ignore[arg-type]


@pytest.fixture
async def http_async_client() -> AsyncIterator[httpx.AsyncClient]:
    """An async HTTP client of this test's event loop (langchain-openai's default one is shared across loops)."""
    async with httpx.AsyncClient() as client:
        yield client


def _prompt(tag: str) -> str:
    """A prompt long enough for the server's prefix cache (1024 tokens), unique to the test."""
    return f"{tag}: " + " ".join(f"word{i % 97}" for i in range(1100))


def _oracle_usage(usage_metadata: Mapping[str, Any]) -> dict[str, int]:
    """genai-prices' usage keys from LangChain's ``usage_metadata``."""
    details_in = usage_metadata.get("input_token_details") or {}
    return {
        "input_tokens": usage_metadata["input_tokens"],
        "output_tokens": usage_metadata["output_tokens"],
        "cache_read_tokens": details_in.get("cache_read", 0),
        "cache_write_tokens": details_in.get("cache_creation", 0),
    }


def _assert_usage(attrs: Mapping[str, Any], usage_metadata: Mapping[str, Any]) -> None:
    """The span's tokens are LangChain's, and its cost is genai-prices' for them."""
    details_in = usage_metadata.get("input_token_details") or {}
    details_out = usage_metadata.get("output_token_details") or {}
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage_metadata["input_tokens"]
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage_metadata["output_tokens"]
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == details_in["cache_read"]
    assert attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == details_out["reasoning"]
    assert attrs.get(semconv.GEN_AI_USAGE_AUDIO_INPUT_TOKENS, 0) == details_in["audio"]  # zeros are not written
    assert attrs.get(semconv.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS, 0) == details_out["audio"]
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs
    expected = genai_cost(_oracle_usage(usage_metadata), MODEL, "openai")
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-9)
    assert attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"


def _assert_raw_usage(attrs: Mapping[str, Any], message: AIMessage) -> None:
    """genai-prices' own extraction of the provider's raw usage (kept by LangChain) agrees with the span."""
    raw = {"model": MODEL, "usage": message.response_metadata["token_usage"]}
    usage = genai_usage(raw, "openai", "chat")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == (usage.cache_read_tokens or 0)
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(genai_cost(usage, MODEL, "openai"), rel=1e-9)


def _assert_no_run_id(attrs: Mapping[str, Any], *messages: Any) -> None:
    run_ids = {m.id for m in messages}
    assert all(str(r).startswith("lc_run-") for r in run_ids)  # what LangChain puts in the message's own id
    assert attrs.get(semconv.GEN_AI_RESPONSE_ID) not in run_ids


def _assert_timing(attrs: Mapping[str, Any]) -> None:
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    ttft = attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN]
    server = TTFT_MS / 1000
    assert server <= ttfc <= server + TOLERANCE_S, ttfc
    assert ttfc <= ttft <= server + TOLERANCE_S, ttft


# --- invoke / ainvoke ---------------------------------------------------------------------------------------------


def test_invoke_reads_usage_metadata_and_the_provider_response_id(
    llm_url: str, span_exporter: InMemorySpanExporter
) -> None:
    model = _chat(llm_url)
    prompt = _prompt("invoke")
    model.invoke(prompt)  # the server caches the prompt's prefix: the traced call reads it from the cache

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def generate(text: str) -> AIMessage:
        return model.invoke(text)

    span_exporter.clear()
    message = generate(prompt)
    attrs = _attrs(span_exporter)
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"]["cache_read"] > 0  # the cache is really exercised
    _assert_usage(attrs, message.usage_metadata)
    _assert_raw_usage(attrs, message)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == message.response_metadata["id"]
    assert str(attrs[semconv.GEN_AI_RESPONSE_ID]).startswith("chatcmpl-")
    _assert_no_run_id(attrs, message)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == (message.response_metadata["finish_reason"],)
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == message.response_metadata["model_name"]


async def test_ainvoke_reads_usage_metadata_and_the_provider_response_id(
    llm_url: str, span_exporter: InMemorySpanExporter, http_async_client: httpx.AsyncClient
) -> None:
    model = _chat(llm_url, http_async_client=http_async_client)
    prompt = _prompt("ainvoke")
    await model.ainvoke(prompt)

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    async def generate(text: str) -> AIMessage:
        return await model.ainvoke(text)

    span_exporter.clear()
    message = await generate(prompt)
    attrs = _attrs(span_exporter)
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"]["cache_read"] > 0
    _assert_usage(attrs, message.usage_metadata)
    _assert_raw_usage(attrs, message)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == message.response_metadata["id"]
    _assert_no_run_id(attrs, message)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == (message.response_metadata["finish_reason"],)


# --- stream / astream ---------------------------------------------------------------------------------------------


def _summed(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    """What LangChain itself makes of the chunks (``AIMessageChunk.__add__`` sums usage)."""
    total: AIMessageChunk = functools.reduce(operator.add, chunks)
    return total


def _assert_stream(attrs: Mapping[str, Any], chunks: list[AIMessageChunk]) -> None:
    total = _summed(chunks)
    assert total.usage_metadata is not None
    assert sum(c.usage_metadata is not None for c in chunks) == 1  # stream_usage: on one chunk near the end
    _assert_usage(attrs, total.usage_metadata)
    # langchain-openai puts no provider id on stream chunks (their id is the run id): no response id, never a run id
    assert semconv.GEN_AI_RESPONSE_ID not in attrs
    _assert_no_run_id(attrs, *chunks)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == (total.response_metadata["finish_reason"],)
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == total.response_metadata["model_name"]
    _assert_timing(attrs)


def test_stream_sums_chunk_usage_and_times_the_first_token(llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    model = _chat(llm_url, stream_usage=True)
    prompt = _prompt("stream")
    for _ in model.stream(prompt):  # warms the prompt cache, and LangChain's first-stream setup (~50 ms, once)
        pass

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def generate(text: str) -> Iterator[AIMessageChunk]:
        yield from model.stream(text)

    span_exporter.clear()
    chunks = list(generate(prompt))
    attrs = _attrs(span_exporter)
    assert chunks[0].content == ""  # the role-only first chunk is not the first token
    _assert_stream(attrs, chunks)


async def test_astream_sums_chunk_usage_and_times_the_first_token(
    llm_url: str, span_exporter: InMemorySpanExporter, http_async_client: httpx.AsyncClient
) -> None:
    model = _chat(llm_url, stream_usage=True, http_async_client=http_async_client)
    prompt = _prompt("astream")
    async for _ in model.astream(prompt):
        pass

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    async def generate(text: str) -> AsyncIterator[AIMessageChunk]:
        async for chunk in model.astream(text):
            yield chunk

    span_exporter.clear()
    chunks = [chunk async for chunk in generate(prompt)]
    _assert_stream(_attrs(span_exporter), chunks)


def test_stream_without_stream_usage_is_estimated_and_flagged(
    llm_url: str, span_exporter: InMemorySpanExporter
) -> None:
    model = _chat(llm_url)  # no stream_usage: the provider reports no usage
    for _ in model.stream("hello"):
        pass

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def generate(text: str) -> Iterator[AIMessageChunk]:
        yield from model.stream(text)

    chunks = list(generate("hello there"))
    attrs = _attrs(span_exporter)
    assert all(c.usage_metadata is None for c in chunks)
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    _assert_no_run_id(attrs, *chunks)
    _assert_timing(attrs)


def test_chunk_usage_increments_are_added_as_langchain_adds_them(
    span_exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    """Chunk usage is an increment (langchain-anthropic: input on the first chunk, output on a later one).

    The server speaks only OpenAI to LangChain, so the chunks are LangChain's own type, built from its documented
    fields; the expected numbers are LangChain's own sum of them.
    """
    chunks = [
        AIMessageChunk(
            content="",
            id="lc_run--1",
            response_metadata={"model_name": "claude-sonnet-4-5", "id": "msg_01abc", "model_provider": "anthropic"},
            usage_metadata={
                "input_tokens": 1500,
                "output_tokens": 1,
                "total_tokens": 1501,
                "input_token_details": {"cache_read": 1000, "cache_creation": 400},
            },
        ),
        AIMessageChunk(content="Hello", id="lc_run--1"),
        AIMessageChunk(content=" world", id="lc_run--1"),
        AIMessageChunk(
            content="",
            id="lc_run--1",
            response_metadata={"stop_reason": "end_turn"},
            usage_metadata={"input_tokens": 0, "output_tokens": 41, "total_tokens": 41},
        ),
    ]

    @oc.traced_stage("generation", model="claude-sonnet-4-5", provider="anthropic")
    def generate() -> Iterator[AIMessageChunk]:
        yield from chunks

    assert list(generate()) == chunks
    attrs = _attrs(span_exporter)
    total = _summed(chunks)
    assert total.usage_metadata is not None
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == total.usage_metadata["input_tokens"] == 1500
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == total.usage_metadata["output_tokens"] == 42
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
    assert attrs[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 400
    expected = genai_cost(_oracle_usage(total.usage_metadata), "claude-sonnet-4-5", "anthropic")
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-9)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "msg_01abc"
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)


def test_service_tier_keys_of_langchain_openai_are_read(span_exporter: InMemorySpanExporter) -> None:
    """With ``service_tier="priority"`` langchain-openai prefixes the cache and reasoning keys; built by its own
    converter from OpenAI's documented usage JSON."""
    from langchain_openai.chat_models.base import _create_usage_metadata

    raw = {
        "prompt_tokens": 2000,
        "completion_tokens": 300,
        "total_tokens": 2300,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 120, "audio_tokens": 0},
    }
    usage_metadata = _create_usage_metadata(raw, "priority")
    assert "priority_cache_read" in usage_metadata["input_token_details"]
    message = AIMessage(
        content="ok",
        id="lc_run--2",
        usage_metadata=usage_metadata,
        response_metadata={"id": "chatcmpl-tier", "model_name": MODEL, "finish_reason": "stop"},
    )

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def generate() -> AIMessage:
        return message

    generate()
    attrs = _attrs(span_exporter)
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == raw["prompt_tokens_details"]["cached_tokens"]  # type: ignore[index]
    assert attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 120
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-tier"


def test_a_thinking_block_is_the_first_chunk_and_text_the_first_token(span_exporter: InMemorySpanExporter) -> None:
    """Content blocks (langchain-anthropic's thinking, then text): the first chunk is not the first token."""
    import time

    chunks = [
        AIMessageChunk(content="", id="lc_run--3"),
        AIMessageChunk(content=[{"type": "thinking", "thinking": "Let me see", "index": 0}], id="lc_run--3"),
        AIMessageChunk(content=[{"type": "text", "text": "Hello", "index": 1}], id="lc_run--3"),
    ]

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def generate() -> Iterator[AIMessageChunk]:
        for chunk in chunks:
            yield chunk
            time.sleep(0.05)

    list(generate())
    attrs = _attrs(span_exporter)
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    ttft = attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN]
    assert 0.05 <= ttfc
    assert ttft - ttfc >= 0.05  # one sleep later: the text chunk
