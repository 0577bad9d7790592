"""The real ``openai`` client (sync and async) against the local server, through ``traced_stage``.

Each test compares the stage span with the SDK's own parsed objects and with genai-prices' reading of the raw JSON
(``genai_usage``) and its price (``genai_cost``): tokens of each kind, cost, response id, finish reasons of every
choice, and for streams the time to first chunk / token against the server's fixed timing.
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import genai_prices
import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

import otel_chatbot as oc
from examples.llm_server.server import create_app
from otel_chatbot import TracedStage, semconv
from tests._servers import serve_asgi
from tests.sdk._oracle import genai_cost, genai_usage
from tests.sdk._spans import only_attrs as _attrs
from tests.sdk.conftest import TTFT_MS, server_config

pytestmark = pytest.mark.usefixtures("tracer_provider")

MODES = ("sync", "async")
SLACK_S = 0.08
"""How much later than the server's own timing the span may see a chunk (loopback, HTTP parsing, a busy CI box)."""
REASONING_TOKENS = 64
TOKENS_PER_S = 400.0  # conftest's server_config
LONG_SYSTEM = " ".join(f"rule{i} applies to every answer." for i in range(300))  # > 1024 tokens: prompt caching
QUESTION: list[Any] = [{"role": "user", "content": "How do I reset my password?"}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_account",
            "parameters": {
                "type": "object",
                "properties": {"email": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["email", "limit"],
            },
        },
    }
]


class Answer(BaseModel):
    title: str
    steps: list[str]
    minutes: int


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """A server that also reports cache writes and streams reasoning deltas (``reasoning_content``)."""
    config = server_config(
        report_cache_writes=True, reasoning_stream="reasoning_content", reasoning_tokens=REASONING_TOKENS
    )
    with serve_asgi(create_app(config), access_log=False) as base:
        _warm_up(base + "/v1")
        yield base + "/v1"


def _warm_up(url: str) -> None:
    """Parse each kind of stream once, outside any span: the SDK builds its pydantic models on first use (up to
    hundreds of ms for the Responses event union), a one-off cost of the process that is not the server's timing."""
    with _sync_client(url) as client:
        options: dict[str, Any] = {"stream_options": {"include_usage": True}}
        list(client.chat.completions.create(model="o3-mini", messages=QUESTION, stream=True, **options))
        list(client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True, tools=TOOLS))
        with client.chat.completions.stream(model="gpt-4o-mini", messages=QUESTION, **options) as stream:
            list(stream)
        reasoning: Any = {"effort": "low", "summary": "auto"}
        list(client.responses.create(model="o4-mini", input="hi", reasoning=reasoning, stream=True))
        list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
        with client.responses.stream(model="o4-mini", input="hi", reasoning=reasoning) as events:
            list(events)
        with client.responses.stream(model="gpt-4o-mini", input="hi") as events:
            list(events)

    async def warm_async() -> None:  # the async client's first streams pay the same one-off costs
        async with _async_client(url) as client:
            options: dict[str, Any] = {"stream_options": {"include_usage": True}}
            async for _ in await client.chat.completions.create(
                model="o3-mini", messages=QUESTION, stream=True, **options
            ):
                pass
            async for _ in await client.responses.create(model="gpt-4o-mini", input="hi", stream=True):
                pass
            async with client.chat.completions.stream(model="gpt-4o-mini", messages=QUESTION, **options) as stream:
                async for _ in stream:
                    pass

    asyncio.run(warm_async())


def _sync_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0)


def _async_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0)


def _stage(model: str) -> TracedStage:
    return oc.traced_stage("generation", model=model, provider="openai")


# --- calling the SDK through a decorated function, sync or async ------------------------------------------------


def _call(
    mode: str,
    url: str,
    model: str,
    call: Callable[[Any], Any],
    acall: Callable[[Any], Any],
    stage_name: str = "generation",
) -> Any:
    """Run ``call(client)`` (sync) or ``await acall(client)`` (async) inside a decorated stage; its return value."""
    decorator = oc.traced_stage(stage_name, model=model, provider="openai")
    if mode == "sync":
        with _sync_client(url) as client:
            return decorator(call)(client)

    async def main() -> Any:
        async with _async_client(url) as client:

            @decorator
            async def stage(c: Any) -> Any:
                return await acall(c)

            return await stage(client)

    return asyncio.run(main())


def _create_raw(mode: str, url: str, model: str, raw: list[Any], method: str = "create", **kwargs: Any) -> Any:
    """``chat.completions.with_raw_response.<method>`` in a stage: the parsed SDK object (returned by the stage)."""

    def call(client: openai.OpenAI) -> Any:
        response = getattr(client.chat.completions.with_raw_response, method)(model=model, **kwargs)
        parsed = response.parse()
        raw.append(response.http_response.json())
        return parsed

    async def acall(client: openai.AsyncOpenAI) -> Any:
        response = await getattr(client.chat.completions.with_raw_response, method)(model=model, **kwargs)
        parsed = response.parse()
        raw.append(response.http_response.json())
        return parsed

    return _call(mode, url, model, call, acall)


def _responses_raw(mode: str, url: str, model: str, raw: list[Any], **kwargs: Any) -> Any:
    """``responses.with_raw_response.create`` in a stage: the parsed ``Response`` (returned by the stage)."""

    def call(client: openai.OpenAI) -> Any:
        response = client.responses.with_raw_response.create(model=model, **kwargs)
        raw.append(response.http_response.json())
        return response.parse()

    async def acall(client: openai.AsyncOpenAI) -> Any:
        response = await client.responses.with_raw_response.create(model=model, **kwargs)
        raw.append(response.http_response.json())
        return response.parse()

    return _call(mode, url, model, call, acall)


def _stream(mode: str, url: str, model: str, **kwargs: Any) -> list[Any]:
    """A decorated generator that iterates the SDK's ``create(stream=True)`` and yields each chunk; the chunks."""
    if mode == "sync":
        with _sync_client(url) as client:

            @_stage(model)
            def chunks() -> Iterator[Any]:
                yield from client.chat.completions.create(model=model, stream=True, **kwargs)

            return list(chunks())

    async def main() -> list[Any]:
        async with _async_client(url) as client:

            @_stage(model)
            async def chunks() -> AsyncIterator[Any]:
                async for chunk in await client.chat.completions.create(model=model, stream=True, **kwargs):
                    yield chunk

            return [c async for c in chunks()]

    return asyncio.run(main())


# --- checks -------------------------------------------------------------------------------------------------------


def _check_chat_usage(attrs: dict[str, Any], usage: Any, raw_json: dict[str, Any], model: str) -> genai_prices.Usage:
    """Tokens of each kind equal the SDK's usage and genai-prices' reading of the raw JSON; cost its price."""
    oracle = genai_usage(raw_json, "openai", "chat")
    prompt_details, completion_details = usage.prompt_tokens_details, usage.completion_tokens_details
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage.prompt_tokens == oracle.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.completion_tokens == oracle.output_tokens
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == prompt_details.cached_tokens
    assert prompt_details.cached_tokens == (oracle.cache_read_tokens or 0)
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 0) == (prompt_details.cache_write_tokens or 0)
    assert (prompt_details.cache_write_tokens or 0) == (oracle.cache_write_tokens or 0)
    assert attrs.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0) == completion_details.reasoning_tokens
    assert completion_details.reasoning_tokens == (oracle.output_reasoning_tokens or 0)
    assert attrs.get(semconv.GEN_AI_USAGE_AUDIO_INPUT_TOKENS, 0) == (prompt_details.audio_tokens or 0)
    assert (prompt_details.audio_tokens or 0) == (oracle.input_audio_tokens or 0)
    assert attrs.get(semconv.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS, 0) == (completion_details.audio_tokens or 0)
    assert (completion_details.audio_tokens or 0) == (oracle.output_audio_tokens or 0)
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs
    return oracle


def _check_cost(attrs: dict[str, Any], oracle: genai_prices.Usage, model: str) -> None:
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(genai_cost(oracle, model, "openai"), rel=1e-9)
    assert attrs[semconv.CHATBOT_COST_PRICE_VERSION] == f"genai-prices=={genai_prices.__version__}"


def _check_timing(attrs: dict[str, Any], first_chunk_s: float, first_text_s: float | None) -> None:
    """Time to first chunk / token within ``SLACK_S`` after the server's schedule (never before it)."""
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert first_chunk_s <= ttfc <= first_chunk_s + SLACK_S
    if first_text_s is None:
        assert semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN not in attrs
        return
    ttft = attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN]
    assert first_text_s <= ttft <= first_text_s + SLACK_S


def _usage_json(chunk: Any) -> dict[str, Any]:
    """The JSON of a stream's usage chunk, as the server sent it (the SDK keeps unknown fields)."""
    data: dict[str, Any] = chunk.model_dump(mode="json", exclude_unset=True)
    return data


TTFT_S = TTFT_MS / 1000


# --- chat.completions.create --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_create_plain(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    completion = _create_raw(mode, url, "gpt-4o-mini", raw, messages=QUESTION)
    attrs = _attrs(span_exporter)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    oracle = _check_chat_usage(attrs, completion.usage, raw[0], "gpt-4o-mini")
    _check_cost(attrs, oracle, "gpt-4o-mini")
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == completion.id
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == completion.model
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == [c.finish_reason for c in completion.choices]


@pytest.mark.parametrize("mode", MODES)
def test_create_cache_write_then_read(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    messages = [{"role": "system", "content": f"{mode} {LONG_SYSTEM}"}, *QUESTION]
    for expect_write in (True, False):
        span_exporter.clear()
        raw: list[Any] = []
        completion = _create_raw(mode, url, "gpt-4o-mini", raw, messages=messages)
        details = completion.usage.prompt_tokens_details
        assert (details.cache_write_tokens > 0) is expect_write
        assert (details.cached_tokens > 0) is not expect_write
        attrs = _attrs(span_exporter)
        oracle = _check_chat_usage(attrs, completion.usage, raw[0], "gpt-4o-mini")
        _check_cost(attrs, oracle, "gpt-4o-mini")


@pytest.mark.parametrize("mode", MODES)
def test_create_n_choices_with_distinct_finish_reasons(
    mode: str, url: str, span_exporter: InMemorySpanExporter
) -> None:
    raw: list[Any] = []
    completion = _create_raw(mode, url, "gpt-4o", raw, messages=QUESTION, n=3, max_tokens=200)
    reasons = [c.finish_reason for c in completion.choices]
    assert reasons == ["stop", "stop", "length"]  # the server's documented rule: the last of n>1 runs into the limit
    attrs = _attrs(span_exporter)
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == reasons
    oracle = _check_chat_usage(attrs, completion.usage, raw[0], "gpt-4o")
    _check_cost(attrs, oracle, "gpt-4o")


@pytest.mark.parametrize("mode", MODES)
def test_create_reasoning_model(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    completion = _create_raw(mode, url, "o4-mini", raw, messages=QUESTION, reasoning_effort="high")
    assert completion.usage.completion_tokens_details.reasoning_tokens == 4 * REASONING_TOKENS
    attrs = _attrs(span_exporter)
    oracle = _check_chat_usage(attrs, completion.usage, raw[0], "o4-mini")
    _check_cost(attrs, oracle, "o4-mini")
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == completion.id


@pytest.mark.parametrize("mode", MODES)
def test_create_tool_call(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    completion = _create_raw(mode, url, "gpt-4o-mini", raw, messages=QUESTION, tools=TOOLS, tool_choice="required")
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "lookup_account"
    attrs = _attrs(span_exporter)
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["tool_calls"]
    oracle = _check_chat_usage(attrs, completion.usage, raw[0], "gpt-4o-mini")
    _check_cost(attrs, oracle, "gpt-4o-mini")


AUDIO_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is said here?"},
            {"type": "input_audio", "input_audio": {"data": base64.b64encode(bytes(960)).decode(), "format": "wav"}},
        ],
    }
]


def _audio_call(mode: str, url: str, raw: list[Any]) -> Any:
    return _create_raw(
        mode,
        url,
        "gpt-audio-mini",
        raw,
        messages=AUDIO_MESSAGES,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
    )


@pytest.mark.parametrize("mode", MODES)
def test_create_audio_tokens(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    completion = _audio_call(mode, url, raw)
    usage = completion.usage
    assert usage.prompt_tokens_details.audio_tokens > 0
    assert usage.completion_tokens_details.audio_tokens > 0
    attrs = _attrs(span_exporter)
    _check_chat_usage(attrs, usage, raw[0], "gpt-audio-mini")
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == completion.id


@pytest.mark.parametrize("mode", MODES)
def test_create_audio_cost(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    _audio_call(mode, url, raw)
    _check_cost(_attrs(span_exporter), genai_usage(raw[0], "openai", "chat"), "gpt-audio-mini")


@pytest.mark.parametrize("mode", MODES)
def test_create_provider_cost(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    headers = {"X-Report-Cost": "true"}
    completion = _create_raw(mode, url, "gpt-4o-mini", raw, messages=QUESTION, extra_headers=headers)
    reported = (completion.usage.model_extra or {})["cost"]
    assert reported == raw[0]["usage"]["cost"] > 0
    attrs = _attrs(span_exporter)
    oracle = _check_chat_usage(attrs, completion.usage, raw[0], "gpt-4o-mini")
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "provider"
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == reported
    assert attrs[semconv.CHATBOT_COST_LOCAL_AMOUNT] == pytest.approx(
        genai_cost(oracle, "gpt-4o-mini", "openai"), rel=1e-9
    )


# --- chat.completions.parse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_parse_structured_output(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    completion = _create_raw(mode, url, "gpt-4o-mini", raw, method="parse", messages=QUESTION, response_format=Answer)
    assert isinstance(completion, openai.types.chat.ParsedChatCompletion)
    assert isinstance(completion.choices[0].message.parsed, Answer)
    attrs = _attrs(span_exporter)
    oracle = _check_chat_usage(attrs, completion.usage, raw[0], "gpt-4o-mini")
    _check_cost(attrs, oracle, "gpt-4o-mini")
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == completion.id
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]


# --- create(stream=True) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_stream_with_usage(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    chunks = _stream(mode, url, "gpt-4o-mini", messages=QUESTION, stream_options={"include_usage": True})
    attrs = _attrs(span_exporter)
    usage_chunk = chunks[-1]
    oracle = _check_chat_usage(attrs, usage_chunk.usage, _usage_json(usage_chunk), "gpt-4o-mini")
    _check_cost(attrs, oracle, "gpt-4o-mini")
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]
    _check_timing(attrs, TTFT_S, TTFT_S)  # the role-only first chunk is not the first chunk: it comes as early


@pytest.mark.parametrize("mode", MODES)
def test_stream_without_usage_is_estimated(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    chunks = _stream(mode, url, "gpt-4o-mini", messages=QUESTION)
    assert all(getattr(c, "usage", None) is None for c in chunks)
    attrs = _attrs(span_exporter)
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == chunks[0].id
    _check_timing(attrs, TTFT_S, TTFT_S)


@pytest.mark.parametrize("mode", MODES)
def test_stream_n_choices_keeps_every_finish_reason(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    chunks = _stream(
        mode, url, "gpt-4o-mini", messages=QUESTION, n=3, max_tokens=60, stream_options={"include_usage": True}
    )
    by_index = {
        c.choices[0].index: c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    }
    reasons = [by_index[i] for i in sorted(by_index)]
    assert reasons == ["stop", "stop", "length"]
    attrs = _attrs(span_exporter)
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == reasons
    oracle = _check_chat_usage(attrs, chunks[-1].usage, _usage_json(chunks[-1]), "gpt-4o-mini")
    _check_cost(attrs, oracle, "gpt-4o-mini")


@pytest.mark.parametrize("mode", MODES)
def test_stream_reasoning_deltas_first_chunk_before_first_token(
    mode: str, url: str, span_exporter: InMemorySpanExporter
) -> None:
    chunks = _stream(
        mode, url, "o3-mini", messages=QUESTION, reasoning_effort="medium", stream_options={"include_usage": True}
    )
    assert (chunks[1].choices[0].delta.model_extra or {}).get("reasoning_content")
    attrs = _attrs(span_exporter)
    oracle = _check_chat_usage(attrs, chunks[-1].usage, _usage_json(chunks[-1]), "o3-mini")
    _check_cost(attrs, oracle, "o3-mini")
    # The server: first reasoning delta at its TTFT, first text after the reasoning time (tokens / rate).
    _check_timing(attrs, TTFT_S, TTFT_S + REASONING_TOKENS / TOKENS_PER_S)


@pytest.mark.parametrize("mode", MODES)
def test_stream_tool_call_is_a_first_chunk_but_no_token(
    mode: str, url: str, span_exporter: InMemorySpanExporter
) -> None:
    chunks = _stream(mode, url, "gpt-4o-mini", messages=QUESTION, tools=TOOLS, stream_options={"include_usage": True})
    attrs = _attrs(span_exporter)
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["tool_calls"]
    oracle = _check_chat_usage(attrs, chunks[-1].usage, _usage_json(chunks[-1]), "gpt-4o-mini")
    _check_cost(attrs, oracle, "gpt-4o-mini")
    _check_timing(attrs, TTFT_S, None)


@pytest.mark.parametrize("mode", MODES)
def test_stream_audio_transcript_is_the_text(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    chunks = _stream(
        mode,
        url,
        "gpt-audio-mini",
        messages=AUDIO_MESSAGES,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        stream_options={"include_usage": True},
    )
    assert chunks[1].choices[0].delta.audio.transcript
    attrs = _attrs(span_exporter)
    usage = chunks[-1].usage
    assert usage.completion_tokens_details.audio_tokens > 0
    _check_chat_usage(attrs, usage, _usage_json(chunks[-1]), "gpt-audio-mini")
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]
    _check_timing(attrs, TTFT_S, TTFT_S)


# --- the chat.completions.stream() helper -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_events(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    """A decorated generator yields every helper event (chunk, content.delta, content.done...): each token once."""
    final: list[Any] = []
    kwargs: dict[str, Any] = {"messages": QUESTION, "n": 2, "stream_options": {"include_usage": True}}
    if mode == "sync":
        with _sync_client(url) as client:

            @_stage("gpt-4o-mini")
            def events() -> Iterator[Any]:
                with client.chat.completions.stream(model="gpt-4o-mini", **kwargs) as stream:
                    yield from stream
                    final.append(stream.get_final_completion())

            kinds = [e.type for e in events()]
    else:

        async def main() -> list[str]:
            async with _async_client(url) as client:

                @_stage("gpt-4o-mini")
                async def events() -> AsyncIterator[Any]:
                    async with client.chat.completions.stream(model="gpt-4o-mini", **kwargs) as stream:
                        async for event in stream:
                            yield event
                        final.append(await stream.get_final_completion())

                return [e.type async for e in events()]

        kinds = asyncio.run(main())
    assert {"chunk", "content.delta", "content.done"} <= set(kinds)
    completion = final[0]
    attrs = _attrs(span_exporter)
    usage_json = {"usage": completion.usage.model_dump(mode="json", exclude_unset=True)}
    oracle = _check_chat_usage(attrs, completion.usage, usage_json, "gpt-4o-mini")
    _check_cost(attrs, oracle, "gpt-4o-mini")
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == completion.id
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == [c.finish_reason for c in completion.choices]
    _check_timing(attrs, TTFT_S, TTFT_S)


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_content_deltas_only(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    """A generator that yields only the helper's ``content.delta`` events: timed, sized and flagged as estimated
    (the usage is only on the chunk events it does not yield)."""
    texts: list[str] = []
    final: list[Any] = []
    if mode == "sync":
        with _sync_client(url) as client:

            @_stage("gpt-4o-mini")
            def deltas() -> Iterator[Any]:
                with client.chat.completions.stream(model="gpt-4o-mini", messages=QUESTION) as stream:
                    yield from (event for event in stream if event.type == "content.delta")
                    final.append(stream.get_final_completion())

            texts = [event.delta for event in deltas()]
    else:

        async def main() -> list[str]:
            async with _async_client(url) as client:

                @_stage("gpt-4o-mini")
                async def deltas() -> AsyncIterator[Any]:
                    async with client.chat.completions.stream(model="gpt-4o-mini", messages=QUESTION) as stream:
                        async for event in stream:
                            if event.type == "content.delta":
                                yield event
                        final.append(await stream.get_final_completion())

                return [event.delta async for event in deltas()]

        texts = asyncio.run(main())
    answer = final[0].choices[0].message.content
    assert "".join(texts) == answer and answer
    attrs = _attrs(span_exporter)
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == math.ceil(len(answer) / 4)  # the documented estimate
    _check_timing(attrs, TTFT_S, TTFT_S)


def _helper_stream(mode: str, url: str, keep: Callable[[Any], bool], **kwargs: Any) -> tuple[list[Any], Any]:
    """A decorated generator over ``chat.completions.stream()`` that yields the events ``keep`` accepts: the events
    it yielded and the helper's final completion (read after the stream, outside what the stage measures)."""
    final: list[Any] = []
    if mode == "sync":
        with _sync_client(url) as client:

            @_stage("gpt-4o-mini")
            def events() -> Iterator[Any]:
                with client.chat.completions.stream(model="gpt-4o-mini", **kwargs) as stream:
                    yield from (event for event in stream if keep(event))
                    final.append(stream.get_final_completion())

            return list(events()), final[0]

    async def main() -> list[Any]:
        async with _async_client(url) as client:

            @_stage("gpt-4o-mini")
            async def events() -> AsyncIterator[Any]:
                async with client.chat.completions.stream(model="gpt-4o-mini", **kwargs) as stream:
                    async for event in stream:
                        if keep(event):
                            yield event
                    final.append(await stream.get_final_completion())

            return [e async for e in events()]

    return asyncio.run(main()), final[0]


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_every_event_without_usage_estimates_each_token_once(
    mode: str, url: str, span_exporter: InMemorySpanExporter
) -> None:
    """Every event yielded (chunk events and their content.delta echoes), no include_usage: the estimate is the text's,
    counted once (twice as many tokens if the echoes counted too)."""
    events, completion = _helper_stream(mode, url, lambda event: True, messages=QUESTION)
    kinds = [e.type for e in events]
    assert "chunk" in kinds and kinds.count("content.delta") > 1
    answer = completion.choices[0].message.content
    assert completion.usage is None and answer
    attrs = _attrs(span_exporter)
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == math.ceil(len(answer) / 4)  # the documented estimate
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == completion.id
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]
    _check_timing(attrs, TTFT_S, TTFT_S)


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_content_deltas_only_with_include_usage_is_still_estimated(
    mode: str, url: str, span_exporter: InMemorySpanExporter
) -> None:
    """The usage chunk is a chunk event the consumer does not yield, and no derived event carries usage (the SDK's
    ``content.done`` has the text only): the span estimates and flags it rather than leaving it out."""
    options: dict[str, Any] = {"include_usage": True}
    events, completion = _helper_stream(
        mode, url, lambda event: event.type == "content.delta", messages=QUESTION, stream_options=options
    )
    assert completion.usage is not None  # the server did report it, on a chunk event only
    answer = completion.choices[0].message.content
    assert "".join(e.delta for e in events) == answer
    attrs = _attrs(span_exporter)
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == math.ceil(len(answer) / 4)
    _check_timing(attrs, TTFT_S, TTFT_S)


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_tool_argument_deltas_only(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    """Only ``tool_calls.function.arguments.delta`` events: the first is the first chunk; no text, so no first token
    and nothing to estimate from (no tokens invented)."""
    events, completion = _helper_stream(
        mode, url, lambda event: event.type == "tool_calls.function.arguments.delta", messages=QUESTION, tools=TOOLS
    )
    assert events and completion.choices[0].finish_reason == "tool_calls"
    assert "".join(e.arguments_delta for e in events) == completion.choices[0].message.tool_calls[0].function.arguments
    attrs = _attrs(span_exporter)
    _check_timing(attrs, TTFT_S, None)
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_record_response(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    """The context-manager form: the app consumes ``content.delta`` text and records the final completion."""
    if mode == "sync":
        with _sync_client(url) as client, oc.traced_stage("generation", model="gpt-4o-mini", provider="openai") as st:
            with client.chat.completions.stream(model="gpt-4o-mini", messages=QUESTION) as stream:
                text = "".join(e.delta for e in stream if e.type == "content.delta")
                completion = stream.get_final_completion()
            st.record_response(completion)
    else:

        async def main() -> tuple[str, Any]:
            async with _async_client(url) as client:
                with oc.traced_stage("generation", model="gpt-4o-mini", provider="openai") as st:
                    async with client.chat.completions.stream(model="gpt-4o-mini", messages=QUESTION) as stream:
                        parts = [e.delta async for e in stream if e.type == "content.delta"]
                        done = await stream.get_final_completion()
                    st.record_response(done)
            return "".join(parts), done

        text, completion = asyncio.run(main())
    assert text == completion.choices[0].message.content
    attrs = _attrs(span_exporter)
    # Without include_usage the helper's final completion has no usage: nothing to read, nothing invented.
    assert completion.usage is None
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == completion.id
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]


# --- Responses API ------------------------------------------------------------------------------------------------


def _check_responses(attrs: dict[str, Any], response: Any, raw_json: dict[str, Any], model: str) -> None:
    oracle = genai_usage(raw_json, "openai", "responses")
    usage = response.usage
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens == oracle.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens == oracle.output_tokens
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == usage.input_tokens_details.cached_tokens
    assert usage.input_tokens_details.cached_tokens == (oracle.cache_read_tokens or 0)
    reasoning = usage.output_tokens_details.reasoning_tokens
    assert (
        attrs.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0) == reasoning == (oracle.output_reasoning_tokens or 0)
    )
    _check_cost(attrs, oracle, model)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == response.id
    # the status, or why an incomplete response stopped
    reason = response.incomplete_details.reason if response.status == "incomplete" else response.status
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == [reason]


@pytest.mark.parametrize("mode", MODES)
def test_responses_cut_by_max_output_tokens(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    kwargs: dict[str, Any] = {"input": "Tell me everything about refunds.", "max_output_tokens": 5}
    response = _responses_raw(mode, url, "gpt-4o-mini", raw, **kwargs)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    attrs = _attrs(span_exporter)
    _check_responses(attrs, response, raw[0], "gpt-4o-mini")
    assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["max_output_tokens"]


@pytest.mark.parametrize("mode", MODES)
def test_responses_create(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    kwargs: dict[str, Any] = {"input": "How do I reset my password?", "reasoning": {"effort": "low"}}
    response = _responses_raw(mode, url, "o4-mini", raw, **kwargs)
    assert response.usage.output_tokens_details.reasoning_tokens == REASONING_TOKENS // 4
    _check_responses(_attrs(span_exporter), response, raw[0], "o4-mini")


@pytest.mark.parametrize("mode", MODES)
def test_responses_cache_write_then_read(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    kwargs: dict[str, Any] = {"instructions": f"responses {mode} {LONG_SYSTEM}", "input": "Where are my invoices?"}
    for expect_write in (True, False):
        span_exporter.clear()
        raw: list[Any] = []
        response = _responses_raw(mode, url, "gpt-4o-mini", raw, **kwargs)
        details = response.usage.input_tokens_details
        assert (details.cache_write_tokens > 0) is expect_write
        assert (details.cached_tokens > 0) is not expect_write
        attrs = _attrs(span_exporter)
        assert attrs.get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 0) == details.cache_write_tokens
        assert details.cache_write_tokens == (genai_usage(raw[0], "openai", "responses").cache_write_tokens or 0)
        _check_responses(attrs, response, raw[0], "gpt-4o-mini")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("helper", [False, True], ids=["create-stream", "stream-helper"])
def test_responses_stream(mode: str, helper: bool, url: str, span_exporter: InMemorySpanExporter) -> None:
    kwargs: dict[str, Any] = {
        "input": "How do I reset my password?",
        "reasoning": {"effort": "medium", "summary": "auto"},
    }
    if mode == "sync":
        with _sync_client(url) as client:

            @_stage("o4-mini")
            def events() -> Iterator[Any]:
                if helper:
                    with client.responses.stream(model="o4-mini", **kwargs) as stream:
                        yield from stream
                else:
                    yield from client.responses.create(model="o4-mini", stream=True, **kwargs)

            seen = list(events())
    else:

        async def main() -> list[Any]:
            async with _async_client(url) as client:

                @_stage("o4-mini")
                async def events() -> AsyncIterator[Any]:
                    if helper:
                        async with client.responses.stream(model="o4-mini", **kwargs) as stream:
                            async for event in stream:
                                yield event
                    else:
                        async for event in await client.responses.create(model="o4-mini", stream=True, **kwargs):
                            yield event

                return [e async for e in events()]

        seen = asyncio.run(main())
    kinds = [e.type for e in seen]
    assert kinds.index("response.reasoning_summary_text.delta") < kinds.index("response.output_text.delta")
    assert kinds[-1] == "response.completed"
    response = seen[-1].response
    attrs = _attrs(span_exporter)
    _check_responses(attrs, response, response.model_dump(mode="json"), "o4-mini")
    # Reasoning summary deltas from the server's TTFT; the text after the reasoning time.
    _check_timing(attrs, TTFT_S, TTFT_S + REASONING_TOKENS / TOKENS_PER_S)


# --- embeddings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_embeddings(mode: str, url: str, span_exporter: InMemorySpanExporter) -> None:
    raw: list[Any] = []
    model = "text-embedding-3-small"
    texts = ["How do I reset my password?", "Where are my invoices?"]

    def call(client: openai.OpenAI) -> Any:
        response = client.embeddings.with_raw_response.create(model=model, input=texts)
        raw.append(response.http_response.json())
        return response.parse()

    async def acall(client: openai.AsyncOpenAI) -> Any:
        response = await client.embeddings.with_raw_response.create(model=model, input=texts)
        raw.append(response.http_response.json())
        return response.parse()

    result = _call(mode, url, model, call, acall, stage_name="embeddings")
    assert len(result.data) == 2
    oracle = genai_usage(raw[0], "openai", "embeddings")
    attrs = _attrs(span_exporter)
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens == oracle.input_tokens
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
    _check_cost(attrs, oracle, model)
