"""The real ``anthropic`` SDK (sync and async) against the local server's Messages API, through ``traced_stage``.

Every path the SDK offers: ``messages.create`` (a ``Message``), ``messages.create(stream=True)`` (raw events),
the ``messages.stream()`` helper (raw plus derived events, ``get_final_message()``), each in the decorator form and
the helper also in the context-manager form. The span's numbers are checked against the SDK's own parsed usage,
against genai-prices' reading of the raw JSON and its ``calc_price``, and the stream timings against the server's
fixed time to first token. What the server cannot send (a ``message_delta`` that omits counts, several deltas) is
built from documented JSON with the SDK's ``model_validate``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageDeltaEvent, RawMessageStartEvent, RawMessageStreamEvent
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from examples.llm_server.server import create_app
from otel_chatbot import semconv
from tests._servers import serve_asgi
from tests.sdk._oracle import genai_cost, genai_usage
from tests.sdk._spans import only_stage_span, stage_spans
from tests.sdk.conftest import TTFT_MS, server_config, traced_warm_up

MODEL = "claude-haiku-4-5"
"""A current model genai-prices knows (the SDK warns, and warnings are errors here, for deprecated ones)."""
PROVIDER = "anthropic"
TTFT_S = TTFT_MS / 1000
TOLERANCE_S = 0.08
"""How much later than the server's first token a first chunk may be seen (loopback, a loaded 2-core machine)."""
TOKENS_PER_S = server_config().tokens_per_s

LONG = " ".join(f"clause {i}: refunds are issued within thirty days of a return request." for i in range(120))
"""A system prompt long enough (over 1024 tokens) to be cached."""
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather of a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
THINKING = {"type": "enabled", "budget_tokens": 1024}

pytestmark = pytest.mark.usefixtures("tracer_provider")


@pytest.fixture(scope="module", autouse=True)
def _warm_sdk(llm_url: str) -> None:
    """One unmeasured call of each kind first, sync and async: the SDK builds the pydantic model of each event type
    (thinking, signature, tool input, web search results...) on its first use, and its lazy imports and first
    connection would otherwise land inside a measured span (one CI run saw a first thinking chunk 0.3 s late)."""
    kinds = [
        _request("warm up"),
        _request("warm up", thinking=THINKING),
        _request("warm up", tools=[WEATHER_TOOL], tool_choice={"type": "any"}),
        _request("warm up", tools=[WEB_SEARCH]),
    ]

    async def warm_async() -> None:
        async with _aclient(llm_url) as client:
            for request in kinds:
                await client.messages.create(**request)
                async for _ in await client.messages.create(stream=True, **request):
                    pass
                async with client.messages.stream(**request) as stream:
                    await stream.until_done()

    with traced_warm_up():
        with _client(llm_url) as client:
            for request in kinds:
                client.messages.create(**request)
                for _ in client.messages.create(stream=True, **request):
                    pass
                with client.messages.stream(**request) as stream:
                    stream.until_done()
        asyncio.run(warm_async())
        for mode in ("sync", "async"):  # and through a stage, as the tests call
            _raw_stream(mode, llm_url, kinds[1])
            _helper_stream(mode, llm_url, kinds[1])


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="test-key", max_retries=0)


def _aclient(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="test-key", max_retries=0)


def _request(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 4096, "messages": [{"role": "user", "content": text}], **extra}


def _attrs(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return dict(only_stage_span(exporter).attributes or {})


# --- the three ways to call ------------------------------------------------------------------------------------


def _create(mode: str, url: str, request: dict[str, Any]) -> tuple[Message, dict[str, Any]]:
    """``messages.create`` in a decorated function returning the ``Message``; also the raw JSON body."""
    raw_json: list[dict[str, Any]] = []

    @oc.traced_stage("generation", model=MODEL, provider=PROVIDER)
    def call(client: anthropic.Anthropic) -> Message:
        raw = client.messages.with_raw_response.create(**request)
        raw_json.append(raw.http_response.json())
        message: Message = raw.parse()
        return message

    @oc.traced_stage("generation", model=MODEL, provider=PROVIDER)
    async def acall(client: anthropic.AsyncAnthropic) -> Message:
        raw = await client.messages.with_raw_response.create(**request)
        raw_json.append(raw.http_response.json())
        message: Message = await raw.parse()
        return message

    async def arun() -> Message:
        async with _aclient(url) as client:
            return await acall(client)

    if mode == "sync":
        with _client(url) as client:
            message = call(client)
    else:
        message = asyncio.run(arun())
    return message, raw_json[0]


def _raw_stream(mode: str, url: str, request: dict[str, Any]) -> list[RawMessageStreamEvent]:
    """``messages.create(stream=True)`` in a decorated generator that yields the raw events."""

    @oc.traced_stage("generation", model=MODEL, provider=PROVIDER)
    def stream(client: anthropic.Anthropic) -> Iterator[RawMessageStreamEvent]:
        yield from client.messages.create(stream=True, **request)

    @oc.traced_stage("generation", model=MODEL, provider=PROVIDER)
    async def astream(client: anthropic.AsyncAnthropic) -> AsyncIterator[RawMessageStreamEvent]:
        async for event in await client.messages.create(stream=True, **request):
            yield event

    async def consume() -> list[RawMessageStreamEvent]:
        async with _aclient(url) as client:
            return [event async for event in astream(client)]

    if mode == "sync":
        with _client(url) as client:
            return list(stream(client))
    return asyncio.run(consume())


def _helper_stream(
    mode: str, url: str, request: dict[str, Any], keep: Callable[[Any], bool] = lambda event: True
) -> tuple[list[Any], Message]:
    """The ``messages.stream()`` helper in a decorated generator yielding its events (those ``keep`` accepts)."""
    finals: list[Message] = []

    @oc.traced_stage("generation", model=MODEL, provider=PROVIDER)
    def stream(client: anthropic.Anthropic) -> Iterator[Any]:
        with client.messages.stream(**request) as events:
            yield from (event for event in events if keep(event))
            finals.append(events.get_final_message())

    @oc.traced_stage("generation", model=MODEL, provider=PROVIDER)
    async def astream(client: anthropic.AsyncAnthropic) -> AsyncIterator[Any]:
        async with client.messages.stream(**request) as events:
            async for event in events:
                if keep(event):
                    yield event
            finals.append(await events.get_final_message())

    async def consume() -> list[Any]:
        async with _aclient(url) as client:
            return [event async for event in astream(client)]

    if mode == "sync":
        with _client(url) as client:
            seen = list(stream(client))
    else:
        seen = asyncio.run(consume())
    return seen, finals[0]


def _helper_context_manager(mode: str, url: str, request: dict[str, Any]) -> Message:
    """The helper in the context-manager form: ``stage.record_response(stream.get_final_message())``."""

    def run() -> Message:
        with oc.traced_stage("generation", model=MODEL, provider=PROVIDER) as stage:
            with _client(url) as client, client.messages.stream(**request) as stream:
                stream.until_done()
                final = stream.get_final_message()
            stage.record_response(final)
        return final

    async def arun() -> Message:
        with oc.traced_stage("generation", model=MODEL, provider=PROVIDER) as stage:
            async with _aclient(url) as client, client.messages.stream(**request) as stream:
                await stream.until_done()
                final = await stream.get_final_message()
            stage.record_response(final)
        return final

    return run() if mode == "sync" else asyncio.run(arun())


def _accumulated(events: list[Any]) -> Message:
    """The SDK's own accumulation of raw events into the final message (what ``get_final_message`` returns)."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    return snapshot


# --- the checks --------------------------------------------------------------------------------------------------


def _check_tokens(attrs: dict[str, Any], message: Message, raw_json: dict[str, Any]) -> None:
    """Every kind of token on the span equals the SDK's parsed usage and genai-prices' reading of the raw JSON."""
    usage = message.usage
    oracle = genai_usage(raw_json, PROVIDER)
    read = usage.cache_read_input_tokens or 0
    write = usage.cache_creation_input_tokens or 0
    creation = usage.cache_creation
    searches = usage.server_tool_use.web_search_requests if usage.server_tool_use else 0
    thinking = usage.output_tokens_details.thinking_tokens if usage.output_tokens_details else 0
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens + read + write == oracle.input_tokens
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens == oracle.output_tokens
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == read == oracle.cache_read_tokens
    assert attrs.get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 0) == write == oracle.cache_write_tokens
    write_5m = creation.ephemeral_5m_input_tokens if creation else 0
    write_1h = creation.ephemeral_1h_input_tokens if creation else 0
    assert attrs.get(semconv.CHATBOT_USAGE_CACHE_WRITE_5M_INPUT_TOKENS, 0) == write_5m == oracle.cache_write_5m_tokens
    assert attrs.get(semconv.CHATBOT_USAGE_CACHE_WRITE_1H_INPUT_TOKENS, 0) == write_1h == oracle.cache_write_1h_tokens
    assert attrs.get(semconv.CHATBOT_USAGE_WEB_SEARCHES, 0) == searches == oracle.web_searches
    assert attrs.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0) == thinking == oracle.output_reasoning_tokens
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == message.id
    assert message.id.startswith("msg_")
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == message.model
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == (message.stop_reason,)


def _check_cost(attrs: dict[str, Any], raw_json: dict[str, Any]) -> None:
    expected = genai_cost(genai_usage(raw_json, PROVIDER), MODEL, PROVIDER)
    assert expected > 0
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-9)
    assert attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"


def _check_first_chunk(attrs: dict[str, Any]) -> float:
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert TTFT_S <= ttfc <= TTFT_S + TOLERANCE_S
    return float(ttfc)


def _thinking_s(message: Message) -> float:
    """How long the server streams the thinking block: its tokens at the fixture's rate."""
    details = message.usage.output_tokens_details
    assert details is not None and details.thinking_tokens > 0
    return details.thinking_tokens / TOKENS_PER_S


def _check_text_after_thinking(attrs: dict[str, Any], message: Message) -> None:
    """The first text comes one thinking phase after the server's first token (the first thinking delta).

    Checked against the server's schedule, not as the gap after the first chunk as seen here: a stall while the
    first chunk is handled would shorten that gap without anything being early.
    """
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    ttft = attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN]
    text_s = TTFT_S + _thinking_s(message)
    assert ttft > ttfc
    assert text_s - 0.02 <= ttft <= text_s + TOLERANCE_S, (ttft, text_s)


def _dump(message: Message) -> dict[str, Any]:
    return json.loads(message.to_json())  # type: ignore[no-any-return]


# --- messages.create -------------------------------------------------------------------------------------------


def test_create(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    message, raw_json = _create(mode, llm_url, _request("what is your refund policy?"))
    attrs = _attrs(span_exporter)
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    _check_tokens(attrs, message, raw_json)
    _check_cost(attrs, raw_json)


def test_create_max_tokens_and_stop_sequence(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    message, raw_json = _create(mode, llm_url, _request("shipping options?", max_tokens=3))
    _check_tokens(_attrs(span_exporter), message, raw_json)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3


def test_create_cache_write_5m_then_read(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    system = [{"type": "text", "text": f"{mode} 5m. {LONG}", "cache_control": {"type": "ephemeral"}}]
    first, first_json = _create(mode, llm_url, _request("refunds?", system=system))
    second, second_json = _create(mode, llm_url, _request("refunds?", system=system))
    written, read = (dict(s.attributes or {}) for s in stage_spans(span_exporter))
    assert first.usage.cache_creation is not None and first.usage.cache_creation.ephemeral_5m_input_tokens > 1024
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    for attrs, message, raw_json in ((written, first, first_json), (read, second, second_json)):
        _check_tokens(attrs, message, raw_json)
        _check_cost(attrs, raw_json)  # 5-minute writes are the plain cache-write price


def _cache_1h(mode: str, url: str) -> tuple[Message, dict[str, Any]]:
    system = [
        {"type": "text", "text": f"{mode} 1h. {LONG}", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": f"And then. {LONG}", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
    ]
    return _create(mode, url, _request("refunds?", system=system))


def test_create_cache_write_1h_and_5m(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    message, raw_json = _cache_1h(mode, llm_url + "/")  # another URL string, same server
    creation = message.usage.cache_creation
    assert creation is not None and creation.ephemeral_1h_input_tokens > 1024 and creation.ephemeral_5m_input_tokens
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, message, raw_json)
    _check_cost(attrs, raw_json)  # 1-hour writes at their own (double) price


def test_create_thinking(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    message, raw_json = _create(mode, llm_url, _request("think about returns", thinking=THINKING))
    assert [block.type for block in message.content] == ["thinking", "text"]
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, message, raw_json)
    _check_cost(attrs, raw_json)  # thinking tokens are output tokens


def test_create_tool_use(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    message, raw_json = _create(mode, llm_url, _request("call get_weather for Paris", tools=[WEATHER_TOOL]))
    assert message.stop_reason == "tool_use" and message.content[0].type == "tool_use"
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, message, raw_json)
    _check_cost(attrs, raw_json)


def test_create_web_search(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    message, raw_json = _create(mode, llm_url, _request("latest refund news", tools=[WEB_SEARCH]))
    assert message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 2
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, message, raw_json)
    _check_cost(attrs, raw_json)  # $10 per 1000 searches on top of the tokens


# --- raw stream events -----------------------------------------------------------------------------------------


def test_raw_stream(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    events = _raw_stream(mode, llm_url, _request("how do I return an item?"))
    final = _accumulated(events)
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))
    _check_cost(attrs, _dump(final))
    ttfc = _check_first_chunk(attrs)
    assert attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN] == ttfc  # the first generated delta is text


def test_raw_stream_thinking_first(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    events = _raw_stream(mode, llm_url, _request("think about exchanges", thinking=THINKING))
    final = _accumulated(events)
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))
    _check_cost(attrs, _dump(final))
    _check_first_chunk(attrs)  # the first thinking delta
    _check_text_after_thinking(attrs, final)  # the first text delta, after the thinking phase


def test_raw_stream_tool_use(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    events = _raw_stream(mode, llm_url, _request("get_weather in Oslo please", tools=[WEATHER_TOOL]))
    final = _accumulated(events)
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))
    _check_cost(attrs, _dump(final))
    assert final.stop_reason == "tool_use"
    _check_first_chunk(attrs)  # the first input_json_delta
    assert semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN not in attrs  # no text at all


def test_raw_stream_web_search_cumulative_input(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    events = _raw_stream(mode, llm_url, _request("search refund rules", tools=[WEB_SEARCH]))
    start = next(e for e in events if isinstance(e, RawMessageStartEvent))
    delta = next(e for e in events if isinstance(e, RawMessageDeltaEvent))
    assert delta.usage.input_tokens is not None and delta.usage.input_tokens > start.message.usage.input_tokens
    final = _accumulated(events)
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))  # the final (replaced) input, not message_start's, not a sum
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == delta.usage.input_tokens
    _check_first_chunk(attrs)  # the search query's input_json_delta
    assert attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN] > attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]


# --- the messages.stream() helper ------------------------------------------------------------------------------


def test_helper_stream_events(mode: str, llm_url: str, capture_content: InMemorySpanExporter) -> None:
    events, final = _helper_stream(mode, llm_url, _request("think, then tell me about gift cards", thinking=THINKING))
    kinds = {event.type for event in events}
    assert {"text", "thinking", "content_block_delta", "message_delta", "message_stop"} <= kinds  # raw and derived
    attrs = _attrs(capture_content)
    _check_tokens(attrs, final, _dump(final))  # the raw events, the derived ones and the final message: counted once
    _check_cost(attrs, _dump(final))
    text = "".join(block.text for block in final.content if block.type == "text")
    (output,) = json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert output["parts"] == [{"type": "text", "content": text}]  # each TextEvent repeats a raw delta: not doubled
    _check_first_chunk(attrs)
    _check_text_after_thinking(attrs, final)


def test_helper_stream_derived_events_only(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    """A consumer that yields only ``TextEvent``s and the final ``MessageStopEvent`` still gets timing and usage."""
    request = _request("tell me about store credit", thinking=THINKING)
    derived = {"text", "thinking", "message_stop"}
    events, final = _helper_stream(mode, llm_url, request, keep=lambda event: event.type in derived)
    assert {event.type for event in events} == derived
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))  # from the MessageStopEvent's accumulated message
    _check_cost(attrs, _dump(final))
    _check_first_chunk(attrs)  # the first ThinkingEvent
    _check_text_after_thinking(attrs, final)  # the first TextEvent


def test_helper_context_manager(mode: str, llm_url: str, span_exporter: InMemorySpanExporter) -> None:
    final = _helper_context_manager(mode, llm_url, _request("get_weather for Rome", tools=[WEATHER_TOOL]))
    assert final.stop_reason == "tool_use"
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))
    _check_cost(attrs, _dump(final))


# --- what the server does not send: documented JSON through the SDK's types ------------------------------------


def _replay(events: list[Any]) -> None:
    @oc.traced_stage("generation", model=MODEL, provider=PROVIDER)
    def stream() -> Iterator[Any]:
        yield from events

    assert list(stream()) == events


_START = {
    "type": "message_start",
    "message": {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 2679,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1800,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 3,
        },
    },
}


def test_message_delta_counts_replace_and_omitted_ones_keep_message_start(span_exporter: InMemorySpanExporter) -> None:
    """Several cumulative ``message_delta``s (server tools): the last counts win, the cache read of the start stays."""
    events: list[Any] = [
        RawMessageStartEvent.model_validate(_START),
        RawMessageDeltaEvent.model_validate(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "pause_turn", "stop_sequence": None},
                "usage": {"input_tokens": 6000, "output_tokens": 200, "server_tool_use": _searches(1)},
            }
        ),
        RawMessageDeltaEvent.model_validate(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"input_tokens": 10682, "output_tokens": 510, "server_tool_use": _searches(2)},
            }
        ),
    ]
    _replay(events)
    final = _accumulated(events)
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 10682 + 1800 == final.usage.input_tokens + 1800
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 510


def test_message_delta_without_input_keeps_message_start_input(span_exporter: InMemorySpanExporter) -> None:
    """The older shape: ``message_delta`` reports output tokens only."""
    events: list[Any] = [
        RawMessageStartEvent.model_validate(_START),
        RawMessageDeltaEvent.model_validate(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 15}}
        ),
    ]
    _replay(events)
    final = _accumulated(events)
    attrs = _attrs(span_exporter)
    _check_tokens(attrs, final, _dump(final))
    _check_cost(attrs, _dump(final))


def _searches(n: int) -> dict[str, int]:
    return {"web_search_requests": n, "web_fetch_requests": 0}


@pytest.fixture
def capture_content() -> Iterator[InMemorySpanExporter]:
    """Content capture on; the spans of the test go to the exporter this yields."""
    exporter = InMemorySpanExporter()
    telemetry = oc.configure(
        "anthropic-sdk-test", embedded=False, span_processors=[SimpleSpanProcessor(exporter)], capture_content=True
    )
    yield exporter
    telemetry.shutdown()


# --- errors in Anthropic's shape -------------------------------------------------------------------------------


def test_errors_have_anthropics_shape() -> None:
    """The SDK maps the server's errors to its own exception classes, with Anthropic's body and request id."""
    with serve_asgi(create_app(server_config(api_key="right-key")), access_log=False) as url:
        with anthropic.Anthropic(base_url=url, api_key="wrong-key", max_retries=0) as client:
            with pytest.raises(anthropic.AuthenticationError) as denied:
                client.messages.create(**_request("hi"))
        with anthropic.Anthropic(base_url=url, api_key="right-key", max_retries=0) as client:
            with pytest.raises(anthropic.BadRequestError) as bad:
                client.messages.create(**_request("hi", thinking={"type": "enabled", "budget_tokens": 10}))
    with serve_asgi(create_app(server_config(error_429_rate=1.0)), access_log=False) as url:
        with anthropic.Anthropic(base_url=url, api_key="any", max_retries=0) as client:
            with pytest.raises(anthropic.RateLimitError) as limited:
                client.messages.create(**_request("hi"))
    expected = {"authentication_error": denied, "invalid_request_error": bad, "rate_limit_error": limited}
    for kind, raised in expected.items():
        body = raised.value.body
        assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == kind
        assert raised.value.request_id is not None and raised.value.request_id.startswith("req_")
