"""A decorated function that RETURNS an SDK stream (rather than iterating it) is measured over the consumer's iteration.

Through the real openai client (``Stream`` and ``AsyncStream``) and LangChain's ``.stream()`` generator against the
local server: the span ends after the last chunk (not when the function returns), with the usage of the final
``include_usage`` chunk, the time to first chunk/token, and an early ``break`` + ``close()`` ends it with what arrived.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from tests.sdk._oracle import genai_cost, genai_usage
from tests.sdk._spans import only_attrs as _attrs
from tests.sdk.conftest import TTFT_MS

MODEL = "gpt-4o-mini"
TOLERANCE_S = 0.08
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tell me about returned streams"}]

pytestmark = pytest.mark.usefixtures("tracer_provider")


class _OpenSpans(SpanProcessor):
    """Spans started and not yet ended."""

    def __init__(self) -> None:
        self.open: set[int] = set()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        self.open.add(span.context.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.open.discard(span.context.span_id)


@pytest.fixture
def open_spans(tracer_provider: TracerProvider) -> Iterator[_OpenSpans]:
    spans = _OpenSpans()
    tracer_provider.add_span_processor(spans)
    yield spans
    assert not spans.open, "a stage span was left open"


_FRESH_CONNECTIONS = httpx2.Limits(max_keepalive_connections=0)
"""A new loopback connection per request: on a reused keep-alive connection the local uvicorn answers ~40 ms late
(seen on the async client: a first chunk at 0.17 s for the server's 0.12 s), which is no part of the server's timing."""


@pytest.fixture
def client(llm_url: str) -> Iterator[openai.OpenAI]:
    http = openai.DefaultHttpxClient(limits=_FRESH_CONNECTIONS)
    with openai.OpenAI(base_url=llm_url + "/v1", api_key="x", http_client=http) as sync_client:
        sync_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "warm up"}])
        for _ in sync_client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ):
            pass  # the SDK's first stream parse in a process is slow: not inside a measured span
        yield sync_client


@pytest.fixture
async def async_client(llm_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    http = openai.DefaultAsyncHttpxClient(limits=_FRESH_CONNECTIONS)
    async with openai.AsyncOpenAI(base_url=llm_url + "/v1", api_key="x", http_client=http) as client:
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "warm up"}])
        async for _ in await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ):
            pass
        yield client


def _stage_returning_stream(
    client: openai.OpenAI, *, usage: bool = False
) -> Callable[[], openai.Stream[ChatCompletionChunk]]:
    """A generation stage that returns ``client``'s chat stream without iterating it (``usage``: include_usage)."""

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def answer() -> openai.Stream[ChatCompletionChunk]:
        if usage:
            return client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        return client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)

    return answer


def _stage_returning_async_stream(
    client: openai.AsyncOpenAI,
) -> Callable[[], Awaitable[openai.AsyncStream[ChatCompletionChunk]]]:
    """A generation stage that returns ``client``'s async chat stream (with the usage chunk) without iterating it."""

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    async def answer() -> openai.AsyncStream[ChatCompletionChunk]:
        return await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )

    return answer


def _assert_final_usage(attrs: dict[str, Any], chunks: list[ChatCompletionChunk]) -> None:
    """Tokens of the SDK's final usage chunk and genai-prices' reading and price of its raw JSON."""
    final = chunks[-1]
    assert final.usage is not None and not final.choices  # the include_usage chunk
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == final.usage.prompt_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.completion_tokens
    assert final.usage.prompt_tokens_details is not None
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == final.usage.prompt_tokens_details.cached_tokens
    usage = genai_usage(final.model_dump(mode="json"), "openai", "chat")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(genai_cost(usage, MODEL, "openai"), rel=1e-9)
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == final.id
    reasons = tuple(c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == reasons == ("stop",)
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is True


def _assert_timing(attrs: dict[str, Any]) -> None:
    server = TTFT_MS / 1000
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    ttft = attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN]
    assert server <= ttfc <= server + TOLERANCE_S, ttfc
    assert ttfc <= ttft <= server + TOLERANCE_S, ttft


def _assert_ended_by_iteration(exporter: InMemorySpanExporter, returned_ns: int, done_ns: int, chunks: int) -> None:
    """The span ended after the consumer's last chunk: the streaming time after the function returned (the server
    sends 400 tokens/s; the chunks other than the role, finish and usage ones are tokens), not at the return."""
    (span,) = exporter.get_finished_spans()
    assert span.end_time is not None
    assert span.end_time <= done_ns
    assert (span.end_time - returned_ns) / 1e9 >= (chunks - 4) / 400


# --- openai.Stream ------------------------------------------------------------------------------------------------


def test_a_returned_openai_stream_is_measured_until_its_last_chunk(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter, open_spans: _OpenSpans
) -> None:
    answer = _stage_returning_stream(client, usage=True)

    stream = answer()
    returned_ns = time.time_ns()
    assert isinstance(stream, openai.Stream)  # the proxy passes for the SDK object...
    assert stream.response.status_code == 200  # ...and its attributes are the SDK object's
    assert not span_exporter.get_finished_spans()  # returned: the span is still open
    chunks = list(stream)
    attrs = _attrs(span_exporter)
    _assert_final_usage(attrs, chunks)
    _assert_timing(attrs)
    _assert_ended_by_iteration(span_exporter, returned_ns, time.time_ns(), len(chunks))


def test_an_early_break_and_close_end_the_span_with_what_arrived(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter, open_spans: _OpenSpans
) -> None:
    answer = _stage_returning_stream(client, usage=True)

    stream = answer()
    for i, _ in enumerate(stream):
        if i == 3:
            break
    assert not span_exporter.get_finished_spans()
    stream.close()
    assert stream.response.is_closed  # the SDK's close() ran
    attrs = _attrs(span_exporter)
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True  # the usage chunk never arrived
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    _assert_timing(attrs)


def test_a_with_block_ends_the_span_at_its_exit(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter, open_spans: _OpenSpans
) -> None:
    answer = _stage_returning_stream(client)

    with answer() as stream:
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
    assert stream.response.is_closed
    attrs = _attrs(span_exporter)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == first.id
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in attrs  # the role-only chunk is not a generated one


# --- openai.AsyncStream -------------------------------------------------------------------------------------------


async def test_a_returned_openai_async_stream_is_measured_until_its_last_chunk(
    async_client: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter, open_spans: _OpenSpans
) -> None:
    answer = _stage_returning_async_stream(async_client)

    stream = await answer()
    returned_ns = time.time_ns()
    assert isinstance(stream, openai.AsyncStream)
    assert stream.response.status_code == 200
    assert not span_exporter.get_finished_spans()
    chunks = [chunk async for chunk in stream]
    attrs = _attrs(span_exporter)
    _assert_final_usage(attrs, chunks)
    _assert_timing(attrs)
    _assert_ended_by_iteration(span_exporter, returned_ns, time.time_ns(), len(chunks))


async def test_an_early_break_and_async_close_end_the_span(
    async_client: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter, open_spans: _OpenSpans
) -> None:
    answer = _stage_returning_async_stream(async_client)

    async with await answer() as stream:
        async for i, _ in _aenumerate(stream):
            if i == 3:
                break
        assert not span_exporter.get_finished_spans()
    assert stream.response.is_closed
    attrs = _attrs(span_exporter)
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    _assert_timing(attrs)

    stream = await answer()
    async for _ in stream:
        break
    await stream.close()  # AsyncStream.close() is a coroutine
    assert stream.response.is_closed
    assert len(span_exporter.get_finished_spans()) == 2


async def _aenumerate(items: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    i = 0
    async for item in items:
        yield i, item
        i += 1


# --- returned generators ------------------------------------------------------------------------------------------


def test_a_returned_langchain_generator_is_measured(llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    with httpx2.Client(limits=_FRESH_CONNECTIONS) as http:
        model = ChatOpenAI(
            base_url=llm_url + "/v1",
            api_key="x",  # type: ignore[arg-type]
            model=MODEL,
            stream_usage=True,
            http_client=http,
        )
        for _ in model.stream("warm up"):  # LangChain's first stream in a process sets itself up (~50 ms)
            pass

        @oc.traced_stage("generation", model=MODEL, provider="openai")
        def answer() -> Iterator[AIMessageChunk]:
            return model.stream("tell me about returned streams")

        chunks = list(answer())
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata is not None
    attrs = _attrs(span_exporter)
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == total.usage_metadata["input_tokens"]
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == total.usage_metadata["output_tokens"]
    expected = genai_cost(
        {"input_tokens": total.usage_metadata["input_tokens"], "output_tokens": total.usage_metadata["output_tokens"]},
        MODEL,
        "openai",
    )
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-9)
    assert semconv.GEN_AI_RESPONSE_ID not in attrs  # langchain-openai drops the provider's id; never the run id
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    _assert_timing(attrs)


async def test_a_sync_function_returning_langchain_astream_is_measured(
    llm_url: str, span_exporter: InMemorySpanExporter
) -> None:
    async with httpx2.AsyncClient(limits=_FRESH_CONNECTIONS) as http:
        model = ChatOpenAI(
            base_url=llm_url + "/v1",
            api_key="x",  # type: ignore[arg-type]
            model=MODEL,
            stream_usage=True,
            http_async_client=http,
        )
        async for _ in model.astream("warm up"):  # outside the span: LangChain's first async stream sets itself up
            pass

        @oc.traced_stage("generation", model=MODEL, provider="openai")
        def answer() -> AsyncIterator[AIMessageChunk]:
            return model.astream("tell me about returned async streams")

        chunks = [chunk async for chunk in answer()]
    usage = [c.usage_metadata for c in chunks if c.usage_metadata is not None]
    attrs = _attrs(span_exporter)
    assert len(usage) == 1
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage[0]["input_tokens"]
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage[0]["output_tokens"]
    assert semconv.GEN_AI_USAGE_COST_AMOUNT in attrs


def _chunk(delta: dict[str, Any], finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-gc",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def test_a_returned_generator_dropped_unfinished_ends_its_span(
    span_exporter: InMemorySpanExporter, open_spans: _OpenSpans
) -> None:
    chunks = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Hello"}), _chunk({}, "stop")]

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def answer() -> Iterator[ChatCompletionChunk]:
        return (c for c in chunks)

    stream = answer()
    assert next(stream) is chunks[0]
    assert next(stream) is chunks[1]
    del stream
    gc.collect()
    attrs = _attrs(span_exporter)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-gc"
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True


def test_an_exception_from_the_stream_fails_the_span(span_exporter: InMemorySpanExporter) -> None:
    def broken() -> Iterator[ChatCompletionChunk]:
        yield _chunk({"content": "Hel"})
        raise ConnectionResetError("the connection dropped mid-stream")

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def answer() -> Iterator[ChatCompletionChunk]:
        return broken()

    with pytest.raises(ConnectionResetError):
        list(answer())
    (span,) = span_exporter.get_finished_spans()
    assert span.status.is_ok is False
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "ConnectionResetError"


# --- unsupported: a stream manager returned un-entered ------------------------------------------------------------


def test_a_returned_stream_manager_logs_one_hint_per_function(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def answer() -> Any:
        return client.chat.completions.stream(model=MODEL, messages=MESSAGES)

    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        for _ in range(2):
            with answer() as stream:  # entered after the stage ended: not measured
                stream.until_done()
    hints = [r for r in caplog.records if "ChatCompletionStreamManager" in r.getMessage()]
    assert len(hints) == 1
    assert "generator" in hints[0].getMessage()
    assert len(span_exporter.get_finished_spans()) == 2
