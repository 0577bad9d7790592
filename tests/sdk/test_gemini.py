"""Google Gemini through the real ``google-genai`` client (sync and ``.aio``) against the local server, in a generation
stage: ``generate_content`` and ``generate_content_stream``.

Every number is checked against the SDK's own parsed ``usage_metadata``, against genai-prices' reading of the
response's JSON (``genai_usage(..., "google")``, its Google extractor) and the cost against genai-prices'
``calc_price``. The JSON is the SDK object dumped by its wire aliases (camelCase), which is what the server sent.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import genai_prices
import httpx
import httpx2
import pytest
from google import genai
from google.genai import types
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from examples.llm_server.gemini_api import CACHED_CONTENT_TOKENS, TOOL_USE_TOKENS
from examples.llm_server.server import create_app
from otel_chatbot import semconv
from otel_chatbot.spans._extraction import extract
from otel_chatbot.spans._run import _DETAIL_ATTRIBUTES
from tests._servers import serve_asgi
from tests.sdk._oracle import genai_cost, genai_usage
from tests.sdk._spans import only_attrs as _attrs
from tests.sdk.conftest import TTFT_MS, server_config, traced_warm_up

MODEL = "gemini-2.5-flash"
"""A model genai-prices prices (with its own audio input rate)."""
IMAGE_MODEL = "gemini-2.5-flash-image"
"""A model genai-prices prices with an output image rate."""
PROVIDER = "gcp.gemini"
TOKENS_PER_S = server_config().tokens_per_s
TOLERANCE_S = 0.06
"""How far after the server's timing the span's may be (client, SSE parsing and scheduling overhead)."""

DETAIL_ATTRIBUTES = _DETAIL_ATTRIBUTES
"""genai-prices usage key -> the span attribute that carries it (the registry's names, or the project's)."""

pytestmark = pytest.mark.usefixtures("tracer_provider")

generation = oc.traced_stage("generation", model=MODEL, provider=PROVIDER)


_FRESH_CONNECTIONS = {"limits": httpx2.Limits(max_keepalive_connections=0)}
"""A new loopback connection per request: on a reused keep-alive connection the local uvicorn answers ~40 ms late
(a delayed ACK; the OpenAI route too), which is no part of the server's simulated timing."""


def _stream_kinds() -> list[types.GenerateContentConfig | None]:
    """The config of each kind of stream a test here times (the server answers each with other part types)."""
    return [
        None,
        _THOUGHTS,
        _HIDDEN_THINKING,
        _tools_stream_config(),
        _function_call_config(),
    ]


@pytest.fixture(scope="module", autouse=True)
def _warm_sdk(llm_url: str) -> None:
    """One untraced stream of each kind first, sync and async: the SDK's first parse of a part type (a thought, a
    function call, several candidates...) and its lazy imports would otherwise land inside a measured span."""
    options = types.HttpOptions(base_url=llm_url, client_args=_FRESH_CONNECTIONS, async_client_args=_FRESH_CONNECTIONS)

    async def warm_async(gemini: genai.client.AsyncClient) -> None:
        for config in _stream_kinds():
            async for _ in await gemini.models.generate_content_stream(model=MODEL, contents="warm", config=config):
                pass

    async def main() -> None:
        with genai.Client(api_key="test-key", http_options=options) as sync_client:
            async with sync_client.aio as gemini:
                await warm_async(gemini)

    with traced_warm_up(), genai.Client(api_key="test-key", http_options=options) as gemini:
        for config in _stream_kinds():

            @generation
            def stream(config: types.GenerateContentConfig | None) -> Iterator[types.GenerateContentResponse]:
                yield from gemini.models.generate_content_stream(model=MODEL, contents="warm", config=config)

            for _ in stream(config):
                pass
        asyncio.run(main())


@pytest.fixture
def client(llm_url: str) -> Iterator[genai.Client]:
    """A real client on the local server, warmed up (a first request, and a first stream, pay one-off setup)."""
    options = types.HttpOptions(base_url=llm_url, client_args=_FRESH_CONNECTIONS)
    with genai.Client(api_key="test-key", http_options=options) as gemini:
        gemini.models.generate_content(model=MODEL, contents="warm up")
        for _ in gemini.models.generate_content_stream(model=MODEL, contents="warm up"):
            pass
        yield gemini


@pytest.fixture
async def aclient(llm_url: str) -> AsyncIterator[genai.client.AsyncClient]:
    """The async client (``Client.aio``) of this test's event loop, warmed up; ``/v1beta`` as older SDKs call."""
    options = types.HttpOptions(base_url=llm_url, api_version="v1beta", async_client_args=_FRESH_CONNECTIONS)
    with genai.Client(api_key="test-key", http_options=options) as sync_client:
        async with sync_client.aio as gemini:
            await gemini.models.generate_content(model=MODEL, contents="warm up")
            async for _ in await gemini.models.generate_content_stream(model=MODEL, contents="warm up"):
                pass
            yield gemini


def _json(response: types.GenerateContentResponse) -> dict[str, Any]:
    """The response as its wire JSON (camelCase)."""
    return response.model_dump(mode="json", by_alias=True, exclude_none=True)


def _assert_response(
    attrs: Mapping[str, Any], response: types.GenerateContentResponse, model: str = MODEL
) -> genai_prices.Usage:
    """Tokens of each kind as the SDK parsed them and as genai-prices reads the JSON; id, model, finish reasons."""
    usage = response.usage_metadata
    assert usage is not None
    thoughts = usage.thoughts_token_count or 0
    prompt, tool_use = usage.prompt_token_count or 0, usage.tool_use_prompt_token_count or 0
    assert prompt > 0
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == prompt + tool_use
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == (usage.candidates_token_count or 0) + thoughts
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) == usage.cached_content_token_count
    assert attrs.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS) == usage.thoughts_token_count
    assert attrs.get(semconv.CHATBOT_USAGE_TOOL_USE_INPUT_TOKENS) == usage.tool_use_prompt_token_count
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs

    oracle = genai_usage(_json(response), "google")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == oracle.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == oracle.output_tokens
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == oracle.reported_value("cache_read_tokens")
    assert attrs.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0) == oracle.reported_value(
        "output_reasoning_tokens"
    )
    for key, attribute in DETAIL_ATTRIBUTES.items():
        assert attrs.get(attribute, 0) == oracle.reported_value(key), key

    assert attrs[semconv.GEN_AI_RESPONSE_ID] == response.response_id
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == response.model_version == model
    reasons = tuple(c.finish_reason.name for c in response.candidates or () if c.finish_reason is not None)
    assert reasons
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == reasons
    return oracle


def _assert_cost(attrs: Mapping[str, Any], oracle: genai_prices.Usage, model: str = MODEL) -> None:
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(genai_cost(oracle, model, "google"), rel=1e-9)
    assert attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"


def _assert_timing(attrs: Mapping[str, Any], first_chunk_s: float, first_text_s: float | None) -> None:
    """Time to first chunk and to first token within tolerance after the server's own timing."""
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert first_chunk_s <= ttfc <= first_chunk_s + TOLERANCE_S, (ttfc, first_chunk_s)
    if first_text_s is None:
        assert semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN not in attrs
        return
    ttft = attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN]
    assert max(ttfc, first_text_s) <= ttft <= first_text_s + TOLERANCE_S, (ttft, first_text_s)


def _final(chunks: list[types.GenerateContentResponse]) -> types.GenerateContentResponse:
    """The last chunk (the final usage and finish reasons), after checking usage is a running total."""
    assert len(chunks) > 2
    counts = [c.usage_metadata.candidates_token_count or 0 for c in chunks if c.usage_metadata is not None]
    assert counts == sorted(counts) and sum(counts) > counts[-1]  # cumulative: summing them would overcount
    return chunks[-1]


# --- generate_content -------------------------------------------------------------------------------------------


def test_generate_content(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    @generation
    def answer(question: str) -> types.GenerateContentResponse:
        return client.models.generate_content(model=MODEL, contents=question)

    response = answer("How do I reset my password?")

    attrs = _attrs(span_exporter)
    oracle = _assert_response(attrs, response)
    assert response.candidates is not None and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert attrs[semconv.GEN_AI_USAGE_TEXT_INPUT_TOKENS] == response.usage_metadata.prompt_token_count  # type: ignore[union-attr]
    _assert_cost(attrs, oracle)
    assert attrs[semconv.CHATBOT_COST_PRICE_VERSION].startswith("genai-prices==")
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in attrs  # not a stream


async def test_generate_content_async(aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter) -> None:
    @generation
    async def answer(question: str) -> types.GenerateContentResponse:
        return await aclient.models.generate_content(model=MODEL, contents=question)

    response = await answer("How do I reset my password?")

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, response))


def _server_config_everything() -> types.GenerateContentConfig:
    """Thinking (not shown), server-side tools, a named cache, two candidates cut by ``max_output_tokens``."""
    return types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(thinking_budget=64),
        tools=[types.Tool(google_search=types.GoogleSearch()), types.Tool(code_execution=types.ToolCodeExecution())],
        cached_content="cachedContents/faq-v1",
        candidate_count=2,
        max_output_tokens=8,
    )


def _assert_everything(attrs: Mapping[str, Any], response: types.GenerateContentResponse) -> None:
    oracle = _assert_response(attrs, response)
    usage = response.usage_metadata
    assert usage is not None and response.candidates is not None
    # Each kind really is there (the server's documented switches), so the equalities above are not 0 == 0.
    assert usage.thoughts_token_count == 64
    assert usage.tool_use_prompt_token_count == TOOL_USE_TOKENS["google_search"] + TOOL_USE_TOKENS["code_execution"]
    assert usage.cached_content_token_count == CACHED_CONTENT_TOKENS
    assert [c.finish_reason for c in response.candidates] == [types.FinishReason.MAX_TOKENS] * 2
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("MAX_TOKENS", "MAX_TOKENS")
    assert attrs[semconv.GEN_AI_USAGE_TEXT_CACHE_READ_INPUT_TOKENS] == CACHED_CONTENT_TOKENS
    assert oracle.reported_value("input_text_tool_tokens") == usage.tool_use_prompt_token_count
    _assert_cost(attrs, oracle)


def test_thinking_tools_cache_and_candidates(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    @generation
    def answer(question: str) -> types.GenerateContentResponse:
        return client.models.generate_content(model=MODEL, contents=question, config=_server_config_everything())

    response = answer("What changed in the refund policy?")

    _assert_everything(_attrs(span_exporter), response)
    assert all(not p.thought for c in response.candidates or () for p in (c.content and c.content.parts) or ())


async def test_thinking_tools_cache_and_candidates_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    @generation
    async def answer(question: str) -> types.GenerateContentResponse:
        config = _server_config_everything()
        return await aclient.models.generate_content(model=MODEL, contents=question, config=config)

    response = await answer("What changed in the refund policy?")

    _assert_everything(_attrs(span_exporter), response)


def test_implicit_prefix_cache(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    prompt = "implicit cache: " + " ".join(f"word{i % 97}" for i in range(1100))
    client.models.generate_content(model=MODEL, contents=prompt)  # the server now holds the prompt's prefix

    response = generation(lambda: client.models.generate_content(model=MODEL, contents=prompt))()

    attrs = _attrs(span_exporter)
    assert (response.usage_metadata and response.usage_metadata.cached_content_token_count or 0) >= 1024
    _assert_cost(attrs, _assert_response(attrs, response))


async def test_implicit_prefix_cache_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    prompt = "implicit cache, async: " + " ".join(f"word{i % 89}" for i in range(1100))
    await aclient.models.generate_content(model=MODEL, contents=prompt)  # the server now holds the prompt's prefix

    @generation
    async def answer() -> types.GenerateContentResponse:
        return await aclient.models.generate_content(model=MODEL, contents=prompt)

    response = await answer()

    attrs = _attrs(span_exporter)
    assert (response.usage_metadata and response.usage_metadata.cached_content_token_count or 0) >= 1024
    _assert_cost(attrs, _assert_response(attrs, response))


# --- modalities ---------------------------------------------------------------------------------------------------


def _media_contents() -> list[Any]:
    """Text, one second of 16 kHz 16-bit mono audio (32 tokens) and an image (258 tokens)."""
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    return [
        "What does the caller say about this screenshot?",
        types.Part.from_bytes(data=bytes(32_000), mime_type="audio/wav"),
        types.Part.from_bytes(data=png, mime_type="image/png"),
    ]


def _media_response(client: genai.Client) -> types.GenerateContentResponse:
    @generation
    def answer() -> types.GenerateContentResponse:
        return client.models.generate_content(model=MODEL, contents=_media_contents())

    return answer()


def test_audio_and_image_prompt_tokens(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    response = _media_response(client)

    attrs = _attrs(span_exporter)
    _assert_response(attrs, response)
    assert attrs[semconv.GEN_AI_USAGE_AUDIO_INPUT_TOKENS] == 32
    assert attrs[semconv.GEN_AI_USAGE_IMAGE_INPUT_TOKENS] == 258
    details = {d.modality: d.token_count for d in response.usage_metadata.prompt_tokens_details or ()}  # type: ignore[union-attr]
    assert attrs[semconv.GEN_AI_USAGE_TEXT_INPUT_TOKENS] == details[types.MediaModality.TEXT]


def test_audio_prompt_is_priced_at_the_audio_rate(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    response = _media_response(client)

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, response))


async def test_audio_and_image_prompt_tokens_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    @generation
    async def answer() -> types.GenerateContentResponse:
        return await aclient.models.generate_content(model=MODEL, contents=_media_contents())

    response = await answer()

    attrs = _attrs(span_exporter)
    assert attrs[semconv.GEN_AI_USAGE_AUDIO_INPUT_TOKENS] == 32
    _assert_cost(attrs, _assert_response(attrs, response))  # audio at the audio rate


def test_image_output_is_priced_at_the_image_rate(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("generation", model=IMAGE_MODEL, provider=PROVIDER)
    def draw() -> types.GenerateContentResponse:
        config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
        return client.models.generate_content(model=IMAGE_MODEL, contents="Draw the logo", config=config)

    response = draw()

    attrs = _attrs(span_exporter)
    oracle = _assert_response(attrs, response, IMAGE_MODEL)
    assert attrs[semconv.GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS] == 1290
    _assert_cost(attrs, oracle, IMAGE_MODEL)


async def test_image_output_is_priced_at_the_image_rate_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    @oc.traced_stage("generation", model=IMAGE_MODEL, provider=PROVIDER)
    async def draw() -> types.GenerateContentResponse:
        config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
        return await aclient.models.generate_content(model=IMAGE_MODEL, contents="Draw the logo", config=config)

    response = await draw()

    attrs = _attrs(span_exporter)
    oracle = _assert_response(attrs, response, IMAGE_MODEL)
    assert attrs[semconv.GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS] == 1290
    _assert_cost(attrs, oracle, IMAGE_MODEL)


# --- generate_content_stream ----------------------------------------------------------------------------------------


def test_stream(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    @generation
    def answer(question: str) -> Iterator[types.GenerateContentResponse]:
        yield from client.models.generate_content_stream(model=MODEL, contents=question)

    chunks = list(answer("How do I reset my password?"))

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, _final(chunks)))
    server = TTFT_MS / 1000
    _assert_timing(attrs, server, server)


async def test_stream_async(aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter) -> None:
    @generation
    async def answer(question: str) -> AsyncIterator[types.GenerateContentResponse]:
        async for chunk in await aclient.models.generate_content_stream(model=MODEL, contents=question):
            yield chunk

    chunks = [chunk async for chunk in answer("How do I reset my password?")]

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, _final(chunks)))
    server = TTFT_MS / 1000
    _assert_timing(attrs, server, server)


_THOUGHTS = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
_HIDDEN_THINKING = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=80))
"""Thinking on, thoughts not shown: nothing is streamed while the model thinks."""


def _assert_thinking_stream(attrs: Mapping[str, Any], chunks: list[types.GenerateContentResponse]) -> None:
    final = _final(chunks)
    _assert_cost(attrs, _assert_response(attrs, final))
    first = chunks[0].candidates[0].content.parts  # type: ignore[index, union-attr]
    assert first is not None and first[0].thought is True  # the thought summary comes first, on its own
    thoughts = final.usage_metadata.thoughts_token_count  # type: ignore[union-attr]
    assert thoughts
    # The server: the thought summary at its time to first token, the text after the thinking phase.
    server = TTFT_MS / 1000
    _assert_timing(attrs, server, server + thoughts / TOKENS_PER_S)


def test_stream_with_thoughts(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    @generation
    def answer(question: str) -> Iterator[types.GenerateContentResponse]:
        yield from client.models.generate_content_stream(model=MODEL, contents=question, config=_THOUGHTS)

    chunks = list(answer("Why was I charged twice?"))

    _assert_thinking_stream(_attrs(span_exporter), chunks)


async def test_stream_with_thoughts_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    @generation
    async def answer(question: str) -> AsyncIterator[types.GenerateContentResponse]:
        async for chunk in await aclient.models.generate_content_stream(
            model=MODEL, contents=question, config=_THOUGHTS
        ):
            yield chunk

    chunks = [chunk async for chunk in answer("Why was I charged twice?")]

    _assert_thinking_stream(_attrs(span_exporter), chunks)


def _assert_hidden_thinking_stream(attrs: Mapping[str, Any], chunks: list[types.GenerateContentResponse]) -> None:
    final = _final(chunks)
    _assert_cost(attrs, _assert_response(attrs, final))
    thoughts = final.usage_metadata.thoughts_token_count if final.usage_metadata else None
    assert thoughts and thoughts <= 80
    assert not any(p.thought for c in chunks for p in c.candidates[0].content.parts)  # type: ignore[index, union-attr]
    thinking_done = TTFT_MS / 1000 + thoughts / TOKENS_PER_S  # nothing is sent while the model thinks
    _assert_timing(attrs, thinking_done, thinking_done)


def test_stream_thinking_without_thoughts_shown(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    @generation
    def answer(question: str) -> Iterator[types.GenerateContentResponse]:
        yield from client.models.generate_content_stream(model=MODEL, contents=question, config=_HIDDEN_THINKING)

    chunks = list(answer("Why was I charged twice?"))

    _assert_hidden_thinking_stream(_attrs(span_exporter), chunks)


async def test_stream_thinking_without_thoughts_shown_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    @generation
    async def answer(question: str) -> AsyncIterator[types.GenerateContentResponse]:
        config = _HIDDEN_THINKING
        async for chunk in await aclient.models.generate_content_stream(model=MODEL, contents=question, config=config):
            yield chunk

    chunks = [chunk async for chunk in answer("Why was I charged twice?")]

    _assert_hidden_thinking_stream(_attrs(span_exporter), chunks)


def _tools_stream_config() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(google_search=types.GoogleSearch())],
        cached_content="cachedContents/faq-v1",
        candidate_count=2,
    )


def test_stream_tools_cache_and_candidates(client: genai.Client, span_exporter: InMemorySpanExporter) -> None:
    @generation
    def answer(question: str) -> Iterator[types.GenerateContentResponse]:
        yield from client.models.generate_content_stream(model=MODEL, contents=question, config=_tools_stream_config())

    chunks = list(answer("What changed in the refund policy?"))

    attrs = _attrs(span_exporter)
    final = _final(chunks)
    _assert_cost(attrs, _assert_response(attrs, final))
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("STOP", "STOP")
    assert attrs[semconv.CHATBOT_USAGE_TOOL_USE_INPUT_TOKENS] == TOOL_USE_TOKENS["google_search"]
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == CACHED_CONTENT_TOKENS


async def test_stream_tools_cache_and_candidates_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    @generation
    async def answer(question: str) -> AsyncIterator[types.GenerateContentResponse]:
        config = _tools_stream_config()
        async for chunk in await aclient.models.generate_content_stream(model=MODEL, contents=question, config=config):
            yield chunk

    chunks = [chunk async for chunk in answer("What changed in the refund policy?")]

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, _final(chunks)))
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("STOP", "STOP")


def _function_call_config() -> types.GenerateContentConfig:
    lookup = types.FunctionDeclaration(name="lookup_order", description="Find an order by its number.")
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[lookup])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def test_stream_function_call_is_a_first_chunk_not_a_token(
    client: genai.Client, span_exporter: InMemorySpanExporter
) -> None:
    @generation
    def answer(question: str) -> Iterator[types.GenerateContentResponse]:
        config = _function_call_config()
        yield from client.models.generate_content_stream(model=MODEL, contents=question, config=config)

    chunks = list(answer("Where is order 1234?"))

    attrs = _attrs(span_exporter)
    (chunk,) = chunks
    assert chunk.function_calls and chunk.function_calls[0].name == "lookup_order"
    _assert_cost(attrs, _assert_response(attrs, chunk))
    _assert_timing(attrs, TTFT_MS / 1000, None)


async def test_stream_function_call_async(
    aclient: genai.client.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    @generation
    async def answer(question: str) -> AsyncIterator[types.GenerateContentResponse]:
        config = _function_call_config()
        async for chunk in await aclient.models.generate_content_stream(model=MODEL, contents=question, config=config):
            yield chunk

    chunks = [chunk async for chunk in answer("Where is order 1234?")]

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, chunks[-1]))
    _assert_timing(attrs, TTFT_MS / 1000, None)


# --- what the server cannot simulate: the SDK's own types from documented JSON ----------------------------------

_DOCUMENTED = {
    # The shape https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse documents, with every
    # usageMetadata field: a cached PDF and audio, a video prompt, an image among the tool-use prompt tokens.
    "candidates": [
        {"content": {"parts": [{"text": "The invoice total is $42."}], "role": "model"}, "finishReason": "STOP"},
        {"content": {"parts": [{"text": "Total: 42 USD"}], "role": "model"}, "finishReason": "SAFETY", "index": 1},
    ],
    "usageMetadata": {
        "promptTokenCount": 5000,
        "cachedContentTokenCount": 3000,
        "candidatesTokenCount": 20,
        "toolUsePromptTokenCount": 400,
        "thoughtsTokenCount": 150,
        "totalTokenCount": 5570,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 1000},
            {"modality": "DOCUMENT", "tokenCount": 2580},
            {"modality": "AUDIO", "tokenCount": 400},
            {"modality": "VIDEO", "tokenCount": 1020},
        ],
        "cacheTokensDetails": [
            {"modality": "TEXT", "tokenCount": 20},
            {"modality": "DOCUMENT", "tokenCount": 2580},
            {"modality": "AUDIO", "tokenCount": 400},
        ],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 20}],
        "toolUsePromptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 142},
            {"modality": "IMAGE", "tokenCount": 258},
        ],
    },
    "modelVersion": MODEL,
    "responseId": "Yf2LaKuqHsPi7M8P8Nq58Qs",
}


def _documented() -> types.GenerateContentResponse:
    return types.GenerateContentResponse.model_validate(_DOCUMENTED)


def test_documented_usage_metadata_in_full(span_exporter: InMemorySpanExporter) -> None:
    response = generation(_documented)()

    attrs = _attrs(span_exporter)
    _assert_response(attrs, response)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("STOP", "SAFETY")
    assert attrs[semconv.GEN_AI_USAGE_IMAGE_INPUT_TOKENS] == 2580 + 258  # DOCUMENT is priced as image
    assert attrs[semconv.CHATBOT_USAGE_VIDEO_INPUT_TOKENS] == 1020
    assert attrs[semconv.GEN_AI_USAGE_AUDIO_CACHE_READ_INPUT_TOKENS] == 400
    # The raw wire JSON and the SDK object read alike.
    assert extract(_DOCUMENTED) is not None
    assert _vars(extract(_DOCUMENTED)) == _vars(extract(response))


def test_documented_usage_metadata_cost(span_exporter: InMemorySpanExporter) -> None:
    response = generation(_documented)()

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, response))


def _vars(extracted: Any) -> dict[str, Any]:
    return {name: getattr(extracted, name) for name in type(extracted).__slots__ if name != "text"}


async def test_documented_stream_chunks_async(span_exporter: InMemorySpanExporter) -> None:
    """Usage on every chunk as a running total (the last one final), built as the SDK's own chunk type."""
    text = ["The invoice", " total is", " $42."]
    chunks = []
    for i, piece in enumerate(text):
        payload: dict[str, Any] = {
            "candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}}],
            "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 3 * (i + 1), "totalTokenCount": 0},
            "modelVersion": MODEL,
            "responseId": "resp-doc-1",
        }
        if i == len(text) - 1:
            payload["candidates"][0]["finishReason"] = "STOP"
        chunks.append(types.GenerateContentResponse.model_validate(payload))

    @generation
    async def answer() -> AsyncIterator[types.GenerateContentResponse]:
        for chunk in chunks:
            yield chunk

    received = [chunk async for chunk in answer()]

    attrs = _attrs(span_exporter)
    _assert_cost(attrs, _assert_response(attrs, _final(received)))
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 9  # the last running total, not 3 + 6 + 9


# --- odd input never raises -----------------------------------------------------------------------------------------

_ODD: list[Any] = [
    {"candidates": 5},
    {"candidates": "STOP"},
    {"candidates": {"content": {"parts": [{"text": "x"}]}}},
    {"candidates": [None, 3, "x", {"content": None}, {"content": {"parts": 7}}]},
    {"candidates": [{"content": {"parts": "text"}}]},
    {"candidates": [{"content": {"parts": {"text": "x"}}}]},
    {"candidates": [{"content": {"parts": [None, 1, {"text": 5}, {"thought": "yes", "text": None}]}}]},
    {"candidates": [{"finish_reason": 3}, {"finishReason": ["STOP"]}]},
    {"usage_metadata": 5},
    {"usage_metadata": {"prompt_token_count": -1, "candidates_token_count": 1.5, "thoughts_token_count": "3"}},
    {"usage_metadata": {"prompt_tokens_details": "TEXT"}},
    {"usage_metadata": {"prompt_tokens_details": [None, 1, {"modality": 5}, {"modality": "TEXT", "token_count": -2}]}},
    {"usage_metadata": {"cache_tokens_details": {"modality": "TEXT", "token_count": 3}}},
    {"usageMetadata": {"promptTokensDetails": [{"modality": "SOUND", "tokenCount": 3}]}},
    {"model_version": 42, "response_id": ["x"]},
    {"modelVersion": {"a": 1}, "candidates": None},
    # The SDK's own types holding what validation would refuse (model_construct skips it), e.g. parts not a list.
    types.GenerateContentResponse.model_construct(
        candidates=[types.Candidate.model_construct(content=types.Content.model_construct(parts=5))]
    ),
    types.GenerateContentResponse.model_construct(candidates=types.Candidate.model_construct(finish_reason=7)),
    types.GenerateContentResponse.model_construct(
        usage_metadata=types.GenerateContentResponseUsageMetadata.model_construct(prompt_tokens_details=3)
    ),
]


@pytest.mark.parametrize("odd", _ODD, ids=range(len(_ODD)))
def test_odd_input_is_safe(odd: Any) -> None:
    extracted = extract(odd, PROVIDER)
    if extracted is not None:
        assert extracted.input_tokens is None or extracted.input_tokens >= 0
        assert all(isinstance(r, str) for r in extracted.finish_reasons)
        assert not extracted.text


# --- the server's Gemini errors and JSON-array streaming --------------------------------------------------------


def test_rate_limit_is_a_gemini_error_on_the_span(span_exporter: InMemorySpanExporter) -> None:
    with serve_asgi(create_app(server_config(error_429_rate=1.0)), access_log=False) as url:
        with genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url, retry_options=None)) as gemini:

            @generation
            def answer() -> types.GenerateContentResponse:
                return gemini.models.generate_content(model=MODEL, contents="hi")

            with pytest.raises(genai.errors.ClientError) as raised:
                answer()

    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
    attrs = _attrs(span_exporter)
    assert attrs[semconv.ERROR_TYPE] == "ClientError"
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attrs


def test_api_key_is_checked() -> None:
    with serve_asgi(create_app(server_config(api_key="right")), access_log=False) as url:
        with genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=url)) as gemini:
            with pytest.raises(genai.errors.ClientError) as raised:
                gemini.models.generate_content(model=MODEL, contents="hi")
        with genai.Client(api_key="right", http_options=types.HttpOptions(base_url=url)) as gemini:
            assert gemini.models.generate_content(model=MODEL, contents="hi").response_id
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"


def test_stream_without_alt_sse_is_a_json_array(llm_url: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "How do I reset my password?"}]}]}
    with httpx.Client() as http:
        reply = http.post(f"{llm_url}/v1beta/models/{MODEL}:streamGenerateContent", json=body)
    chunks = [types.GenerateContentResponse.model_validate(c) for c in reply.json()]
    final = _final(chunks)
    assert final.candidates is not None and final.candidates[0].finish_reason == types.FinishReason.STOP
    text = "".join(c.candidates[0].content.parts[0].text or "" for c in chunks)  # type: ignore[index, union-attr]
    assert len(text.split()) == final.usage_metadata.candidates_token_count  # type: ignore[union-attr]


def test_an_unknown_finish_reason_is_a_plain_string(span_exporter: InMemorySpanExporter) -> None:
    payload = {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "SOMETHING_NEW"}]}
    with pytest.warns(UserWarning, match="not a valid FinishReason"):  # the SDK keeps it, with a warning
        response = generation(lambda: types.GenerateContentResponse.model_validate(payload))()

    reasons = _attrs(span_exporter)[semconv.GEN_AI_RESPONSE_FINISH_REASONS]
    assert response.candidates is not None
    assert reasons == ("SOMETHING_NEW",) and all(type(r) is str for r in reasons)
