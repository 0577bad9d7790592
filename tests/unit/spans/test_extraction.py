"""Usage, cost and response metadata for every provider shape, with exact figures; odd values never break anything."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.spans._extraction import FIRST_CHUNK, FIRST_TEXT, StreamAccumulator, extract
from otel_chatbot.spend._pricing import TokenUsage, default_table

pytestmark = pytest.mark.usefixtures("tracer_provider")


def _attrs_after(
    result: Any, exporter: InMemorySpanExporter, *, model: str | None, provider: str | None
) -> dict[str, Any]:
    @oc.traced_stage("generation", model=model, provider=provider)
    def call() -> Any:
        return result

    assert call() is result
    (span,) = exporter.get_finished_spans()
    return dict(span.attributes or {})


def _cost(model: str, provider: str, **usage: Any) -> float:
    cost = default_table().cost(TokenUsage(**usage), model, provider)
    assert cost is not None
    return float(cost)


# --- OpenAI Chat Completions, as objects (like the openai SDK's pydantic models) and as dicts ---------------------


@dataclass
class _Details:
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass
class _ChatUsage:
    prompt_tokens: int
    completion_tokens: int
    prompt_tokens_details: _Details = field(default_factory=_Details)
    completion_tokens_details: _Details = field(default_factory=_Details)


@dataclass
class _Message:
    content: str
    role: str = "assistant"


@dataclass
class _Choice:
    message: _Message
    finish_reason: str = "stop"


@dataclass
class _ChatCompletion:
    id: str
    model: str
    choices: list[_Choice]
    usage: _ChatUsage
    object: str = "chat.completion"


def test_openai_chat_object_with_cached_and_reasoning_tokens(span_exporter: InMemorySpanExporter) -> None:
    response = _ChatCompletion(
        id="chatcmpl-9",
        model="o3-mini-2025-01-31",
        choices=[_Choice(_Message("42"), "length")],
        usage=_ChatUsage(2000, 800, _Details(cached_tokens=1500), _Details(reasoning_tokens=600)),
    )
    attrs = _attrs_after(response, span_exporter, model="o3-mini", provider="openai")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 2000  # includes the cached 1500
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1500
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 800
    assert attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 600
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-9"
    # o3-mini: $1.10 input, $0.55 cached input, $4.40 output per 1M: 500*1.1 + 1500*0.55 + 800*4.4 = 4895 / 1e6
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(0.004895, rel=1e-12)


def test_gpt_4o_mini_reference_figure() -> None:
    cost = default_table().cost(TokenUsage(input_tokens=1000, output_tokens=500), "gpt-4o-mini", "openai")
    assert cost == Decimal("0.00045")


def test_cached_tokens_are_priced_at_the_cache_read_price() -> None:
    full = _cost("gpt-4o-mini", "openai", input_tokens=1000, output_tokens=500)
    cached = _cost("gpt-4o-mini", "openai", input_tokens=1000, output_tokens=500, cache_read_tokens=400)
    # 400 tokens at $0.075 instead of $0.15 per 1M
    assert full - cached == pytest.approx(400 * 0.075 / 1e6, rel=1e-9)
    assert cached == pytest.approx(0.00042, rel=1e-12)


# --- OpenAI Responses --------------------------------------------------------------------------------------------


def test_openai_responses_dict(span_exporter: InMemorySpanExporter) -> None:
    response = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4o-mini-2024-07-18",
        "status": "completed",
        "output_text": "hello",
        "usage": {
            "input_tokens": 1000,
            "input_tokens_details": {"cached_tokens": 200},
            "output_tokens": 500,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 1500,
        },
    }
    attrs = _attrs_after(response, span_exporter, model="gpt-4o-mini", provider="openai")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("completed",)
    expected = (800 * 0.15 + 200 * 0.075 + 500 * 0.6) / 1e6
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-12)


# --- Anthropic Messages -----------------------------------------------------------------------------------------


def test_anthropic_input_tokens_include_cache_reads_and_writes(span_exporter: InMemorySpanExporter) -> None:
    response = {
        "id": "msg_1",
        "type": "message",
        "model": "claude-sonnet-4-5-20250929",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {
            "input_tokens": 100,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 50,
        },
    }
    attrs = _attrs_after(response, span_exporter, model="claude-sonnet-4-5", provider="anthropic")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1300
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
    assert attrs[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 200
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    # $3 input, $0.30 cache read, $3.75 cache write, $15 output per 1M
    expected = (100 * 3 + 1000 * 0.3 + 200 * 3.75 + 50 * 15) / 1e6
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-12)


def test_anthropic_long_context_tier() -> None:
    base = _cost("claude-sonnet-4-5", "anthropic", input_tokens=100_000, output_tokens=1000)
    tier = _cost("claude-sonnet-4-5", "anthropic", input_tokens=300_000, output_tokens=1000)
    assert base == pytest.approx((100_000 * 3 + 1000 * 15) / 1e6)
    assert tier == pytest.approx((300_000 * 6 + 1000 * 22.5) / 1e6)


def test_anthropic_stream_events(span_exporter: InMemorySpanExporter) -> None:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_2",
                "model": "claude-sonnet-4-5",
                "content": [],
                "usage": {
                    "input_tokens": 10,
                    "cache_read_input_tokens": 90,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": 1,
                },
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 25}},
        {"type": "message_stop"},
    ]

    @oc.traced_stage("generation", model="claude-sonnet-4-5", provider="anthropic")
    async def stream() -> AsyncIterator[dict[str, Any]]:
        for event in events:
            yield event

    async def consume() -> None:
        async for _ in stream():
            pass

    asyncio.run(consume())
    (span,) = span_exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 90
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 25
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "msg_2"
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs


# --- Gemini, LangChain ------------------------------------------------------------------------------------------


def test_gemini_usage_metadata(span_exporter: InMemorySpanExporter) -> None:
    response = {
        "response_id": "g-1",
        "model_version": "gemini-2.0-flash",
        "candidates": [{"content": {"parts": [{"text": "hi"}]}, "finish_reason": "STOP"}],
        "usage_metadata": {
            "prompt_token_count": 1000,
            "candidates_token_count": 300,
            "thoughts_token_count": 200,
            "cached_content_token_count": 400,
            "total_token_count": 1500,
        },
    }
    attrs = _attrs_after(response, span_exporter, model="gemini-2.0-flash", provider="gcp.gemini")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 500  # thoughts are billed as output
    assert attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 200
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 400
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("STOP",)
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == "gemini-2.0-flash"
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(
        _cost("gemini-2.0-flash", "google", input_tokens=1000, output_tokens=500, cache_read_tokens=400)
    )
    assert semconv.CHATBOT_COST_UNKNOWN_MODEL not in attrs


class _AIMessage:
    def __init__(self) -> None:
        self.content = "hello"
        self.id = "run-1"
        self.usage_metadata = {
            "input_tokens": 1000,
            "output_tokens": 500,
            "total_tokens": 1500,
            "input_token_details": {"cache_read": 300},
            "output_token_details": {"reasoning": 100},
        }
        self.response_metadata = {"model_name": "gpt-4o-mini", "finish_reason": "stop"}


def test_langchain_ai_message(span_exporter: InMemorySpanExporter) -> None:
    attrs = _attrs_after(_AIMessage(), span_exporter, model=None, provider="openai")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 300
    assert attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 100
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"  # priced by the response model
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((700 * 0.15 + 300 * 0.075 + 500 * 0.6) / 1e6)


def test_openai_responses_stream_completed_event(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def stream() -> Iterator[dict[str, Any]]:
        yield {"type": "response.created", "response": {"id": "resp_9", "object": "response", "status": "in_progress"}}
        yield {"type": "response.output_text.delta", "delta": "Hi"}
        yield {
            "type": "response.completed",
            "response": {
                "id": "resp_9",
                "object": "response",
                "status": "completed",
                "model": "gpt-4o-mini",
                "usage": {"input_tokens": 10, "output_tokens": 2},
            },
        }

    list(stream())
    (span,) = span_exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "resp_9"
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs


# --- unknown models, overrides, weird values --------------------------------------------------------------------


def test_unknown_model_is_never_a_silent_zero(span_exporter: InMemorySpanExporter) -> None:
    attrs = _attrs_after(
        {"usage": {"prompt_tokens": 10, "completion_tokens": 5}},
        span_exporter,
        model="my-private-llm-7b",
        provider="self-hosted",
    )
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert semconv.GEN_AI_USAGE_COST_AMOUNT not in attrs
    assert attrs[semconv.CHATBOT_COST_UNKNOWN_MODEL] is True


@pytest.mark.parametrize(
    "result",
    [
        None,
        "plain text answer",
        b"bytes",
        42,
        3.5,
        object(),
        [1, 2, 3],
        {"usage": None},
        {"usage": "lots"},
        {"usage": {"prompt_tokens": -5, "completion_tokens": "many"}},
        {"usage": {"prompt_tokens": math.nan, "completion_tokens": math.inf}},
        {"usage": {"prompt_tokens": True, "completion_tokens": 1.5}},
        {"usage": {"prompt_tokens": [1], "completion_tokens": {"x": 1}}},
        {"choices": "not a list", "model": 7, "id": ["x"]},
        {"choices": [None, 3, {"message": None}], "usage": {}},
    ],
)
def test_weird_return_values_never_break_user_code(result: Any, span_exporter: InMemorySpanExporter) -> None:
    attrs = _attrs_after(result, span_exporter, model="gpt-4o-mini", provider="openai")
    for key, value in attrs.items():
        assert isinstance(value, str | bool | int | float | tuple), key
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert math.isfinite(value) and value >= 0, key
    assert semconv.GEN_AI_USAGE_COST_AMOUNT not in attrs or attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] >= 0


def test_partial_odd_usage_keeps_the_valid_counts(span_exporter: InMemorySpanExporter) -> None:
    attrs = _attrs_after(
        {"usage": {"prompt_tokens": 100, "completion_tokens": -1}},
        span_exporter,
        model="gpt-4o-mini",
        provider="openai",
    )
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(100 * 0.15 / 1e6)


def test_record_usage_with_invalid_values_is_ignored(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("generation", model="gpt-4o-mini")
    def call() -> None:
        oc.record_usage(input_tokens=-3, output_tokens=math.nan)  # type: ignore[arg-type]

    call()
    (span,) = span_exporter.get_finished_spans()
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in (span.attributes or {})


def test_extract_plain_dict_shapes() -> None:
    chat = extract({"usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    assert chat is not None and (chat.input_tokens, chat.output_tokens) == (3, 4)
    assert extract({}) is None
    assert extract("x") is None


@pytest.mark.parametrize(
    "body",
    [
        {
            "id": "a",
            "model": "gpt-4o-mini",
            "choices": [{"finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3},
        },
        {
            "id": "b",
            "model": "gpt-4o-mini",
            "choices": [{"finish_reason": "length"}, {"finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 300,
                "prompt_tokens_details": {"cached_tokens": 600, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 100},
            },
        },
        {
            "model": "gpt-4o-mini",
            "usage": {"prompt_tokens": 5, "completion_tokens": 0, "prompt_tokens_details": {"cached_tokens": 0}},
        },
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "prompt_tokens_details": None}},
    ],
)
def test_fast_path_agrees_with_the_general_path(body: dict[str, Any]) -> None:
    from otel_chatbot.spans._run import _chat_completion_attributes, usage_attributes

    price = default_table().lookup("gpt-4o-mini", "openai")
    fast = _chat_completion_attributes(body, price)
    general_usage = extract(body, "openai", want_text=False)
    assert fast is not None and general_usage is not None
    general = usage_attributes(general_usage, "gpt-4o-mini", "openai", estimated=False)
    if general_usage.response_model:
        general[semconv.GEN_AI_RESPONSE_MODEL] = general_usage.response_model
    if general_usage.response_id:
        general[semconv.GEN_AI_RESPONSE_ID] = general_usage.response_id
    if general_usage.finish_reasons:
        general[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(general_usage.finish_reasons)
    general = {
        k: v
        for k, v in general.items()
        if v != 0 or k in (semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    }
    assert fast == general


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 812, "completion_tokens": 95, "total_tokens": 907},
        {
            "prompt_tokens": 1000,
            "completion_tokens": 300,
            "total_tokens": 1300,
            "prompt_tokens_details": {"cached_tokens": 600, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0},
        },
        {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5, "prompt_tokens_details": {"cached_tokens": 0}},
    ],
)
def test_openai_objects_take_the_fast_path_with_the_dicts_attributes(usage: dict[str, Any]) -> None:
    from openai.types.chat import ChatCompletion

    from otel_chatbot.spans._run import _chat_completion_attributes, _chat_completion_fields, _is_openai_chat

    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": "x"}, "finish_reason": reason}
            for i, reason in enumerate(("length", "stop"))
        ],
        "usage": usage,
    }
    obj = ChatCompletion.model_validate(body)
    price = default_table().lookup("gpt-4o-mini", "openai")
    assert _is_openai_chat(type(obj)) and not _is_openai_chat(dict)
    fields = _chat_completion_fields(obj)
    assert fields is not None
    fast = _chat_completion_attributes(fields, price)
    assert fast is not None and fast == _chat_completion_attributes(body, price)


def test_openai_objects_with_undeclared_fields_take_the_general_path() -> None:
    from openai.types.chat import ChatCompletion

    from otel_chatbot.spans._run import _chat_completion_fields

    body: dict[str, Any] = {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": "openai/gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "cost": 0.5},
    }
    assert _chat_completion_fields(ChatCompletion.model_validate(body)) is None  # OpenRouter's cost: general path
    body["usage"] = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    body["provider"] = "x"
    assert _chat_completion_fields(ChatCompletion.model_validate(body)) is None
    body.pop("provider")
    assert _chat_completion_fields(ChatCompletion.model_validate(body)) is not None


def test_fast_path_declines_odd_shapes() -> None:
    from otel_chatbot.spans._run import _chat_completion_attributes

    price = default_table().lookup("gpt-4o-mini", "openai")
    assert _chat_completion_attributes({"usage": {"prompt_tokens": -1, "completion_tokens": 1}}, price) is None
    assert _chat_completion_attributes({"usage": {"prompt_tokens": 1, "completion_tokens": 1.0}}, price) is None
    assert _chat_completion_attributes({"type": "message", "usage": {"prompt_tokens": 1}}, price) is None
    assert (
        _chat_completion_attributes(
            {"usage": {"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": "x"}}},
            price,
        )
        is None
    )
    assert _chat_completion_attributes({"usage": {"prompt_tokens": 1, "completion_tokens": 1}}, None) is None


def test_stream_chunks_without_object_marker_still_give_ttft(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def stream() -> Iterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"role": "assistant"}}]}
        yield {"choices": [{"delta": {"content": "Hi"}}]}
        yield {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    list(stream())
    (span,) = span_exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs


def test_langchain_message_from_an_anthropic_model_is_not_double_counted(span_exporter: InMemorySpanExporter) -> None:
    message = _AIMessage()
    message.usage_metadata = {
        "input_tokens": 1100,
        "output_tokens": 50,
        "total_tokens": 1150,
        "input_token_details": {"cache_read": 1000},
    }
    attrs = _attrs_after(message, span_exporter, model="claude-sonnet-4-5", provider="anthropic")
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1100  # LangChain already includes cached tokens
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((100 * 3 + 1000 * 0.3 + 50 * 15) / 1e6)


def test_record_usage_adds_up_over_several_calls(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def two_calls() -> None:
        oc.record_usage(input_tokens=100, output_tokens=10)
        oc.record_usage(input_tokens=200, output_tokens=20, cache_read_tokens=50)

    two_calls()
    (span,) = span_exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert (attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS], attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]) == (300, 30)
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 50
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((250 * 0.15 + 50 * 0.075 + 30 * 0.6) / 1e6)


def _chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [choice]}


def test_stream_finish_reasons_are_kept_per_choice_index_in_index_order() -> None:
    acc = StreamAccumulator("openai", keep_text=100)
    flags = [
        acc.add(_chunk(1, {"role": "assistant", "content": ""})),
        acc.add(_chunk(1, {"content": "other"})),  # a generated chunk of choice 1: the first chunk, not choice 0's text
        acc.add(_chunk(0, {"content": "Hello"})),
        acc.add(_chunk(2, {}, "length")),
        acc.add(_chunk(0, {"content": " there"})),
        acc.add(_chunk(0, {}, "stop")),
        acc.add(_chunk(1, {}, "tool_calls")),
    ]
    assert flags == [0, FIRST_CHUNK, FIRST_TEXT, 0, 0, 0, 0]
    assert acc.result.finish_reasons == ["stop", "tool_calls", "length"]
    assert "".join(acc.texts) == "Hello there"


def test_stream_helper_events_count_each_token_once() -> None:
    acc = StreamAccumulator("openai", keep_text=100)
    for text in ("Hi", " you"):
        acc.add({"type": "chunk", "chunk": _chunk(0, {"content": text}), "snapshot": {}})
        acc.add({"type": "content.delta", "delta": text, "snapshot": text, "parsed": None})
    acc.add({"type": "chunk", "chunk": _chunk(0, {}, "stop"), "snapshot": {}})
    acc.add({"type": "content.done", "content": "Hi you", "parsed": None})
    assert "".join(acc.texts) == "Hi you"
    assert acc.result.finish_reasons == ["stop"]
    assert acc.result.response_id == "chatcmpl-1"


@pytest.mark.parametrize(
    "delta",
    [
        {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]},
        {"content": None, "reasoning_content": "Thinking"},
        {"audio": {"id": "audio_1", "data": "AAAA"}},
    ],
)
def test_tool_call_reasoning_and_audio_deltas_are_generated_chunks_not_text(delta: dict[str, Any]) -> None:
    extracted = extract(_chunk(0, delta))
    assert extracted is not None
    assert extracted.generated
    assert extracted.text is None


# --- the openai SDK's chat.completions.stream() events, built by the SDK's own stream state from its chunk type -----


def _sdk_chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> Any:
    from openai.types.chat import ChatCompletionChunk

    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage
    return ChatCompletionChunk.model_validate(body)


def _helper_events(chunks: list[Any], tools: list[Any] | None = None) -> list[Any]:
    """The events ``chat.completions.stream()`` yields for these chunks (the SDK's ``ChatCompletionStreamState``)."""
    from openai.lib.streaming.chat import ChatCompletionStreamState

    state: Any = ChatCompletionStreamState(input_tools=tools) if tools else ChatCompletionStreamState()
    return [event for chunk in chunks for event in state.handle_chunk(chunk)]


_USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
_TEXT_CHUNKS: tuple[tuple[dict[str, Any] | None, str | None, dict[str, int] | None], ...] = (
    ({"role": "assistant", "content": ""}, None, None),  # role-only: the SDK still fires a content.delta ("")
    ({"content": "Hello"}, None, None),
    ({"content": " there"}, None, None),
    ({}, "stop", None),
    (None, None, _USAGE),  # include_usage: a last chunk without choices
)


def _text_events() -> list[Any]:
    return _helper_events([_sdk_chunk(*spec) for spec in _TEXT_CHUNKS])


def test_sdk_helper_events_all_yielded_count_each_token_once() -> None:
    events = _text_events()
    assert [e.type for e in events].count("content.delta") == 3
    assert {"chunk", "content.delta", "content.done"} <= {e.type for e in events}
    acc = StreamAccumulator("openai", keep_text=100)
    flags = {i: f for i, e in enumerate(events) if (f := acc.add(e))}
    first = next(i for i, e in enumerate(events) if e.type == "chunk" and e.chunk.choices[0].delta.content)
    assert flags == {first: FIRST_CHUNK | FIRST_TEXT}  # the chunk event, not its content.delta echo
    assert "".join(acc.texts) == "Hello there" and acc.chars == len("Hello there")
    result = acc.result
    assert (result.input_tokens, result.output_tokens) == (9, 3)
    assert result.response_id == "chatcmpl-1" and result.response_model == "gpt-4o-mini"
    assert result.finish_reasons == ["stop"]


def test_sdk_helper_content_deltas_alone_give_first_chunk_and_text_but_no_usage() -> None:
    deltas = [e for e in _text_events() if e.type == "content.delta"]
    acc = StreamAccumulator("openai", keep_text=100)
    assert [acc.add(e) for e in deltas] == [0, FIRST_CHUNK | FIRST_TEXT, 0]  # the role chunk's "" is not content
    assert "".join(acc.texts) == "Hello there"
    assert not acc.result.has_usage  # no derived event carries usage: the span estimates it (and flags it)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("only", [None, "content.delta"])
def test_sdk_helper_events_without_usage_are_estimated_once(
    mode: str, only: str | None, span_exporter: InMemorySpanExporter
) -> None:
    """Every event or only ``content.delta`` events, without usage: the estimate counts the text once."""
    events = [e for e in _text_events() if only is None or e.type == only]
    events = [e for e in events if not (e.type == "chunk" and e.chunk.usage is not None)]  # no include_usage
    stage = oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    if mode == "sync":

        @stage
        def gen() -> Iterator[Any]:
            yield from events

        assert list(gen()) == events
    else:

        @stage
        async def agen() -> AsyncIterator[Any]:
            for event in events:
                yield event

        async def main() -> list[Any]:
            return [e async for e in agen()]

        assert asyncio.run(main()) == events
    (span,) = span_exporter.get_finished_spans()
    attrs: dict[str, Any] = dict(span.attributes or {})
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == math.ceil(len("Hello there") / 4)  # 6 if counted twice
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs
    assert semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN in attrs
    if only is None:
        assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
        assert list(attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]


_TOOL: Any = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}


def _tool_and_refusal_events() -> list[Any]:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    chunks = [
        _sdk_chunk({"role": "assistant", "tool_calls": [call]}),
        _sdk_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}),
        _sdk_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"pw"}'}}]}),
        _sdk_chunk({"refusal": "I can't"}),
        _sdk_chunk({"refusal": " do that."}, "stop"),
    ]
    return _helper_events(chunks, tools=[_TOOL])


@pytest.mark.parametrize("kind", [None, "tool_calls.function.arguments.delta", "refusal.delta"])
def test_sdk_helper_tool_argument_and_refusal_deltas_are_generated_not_text(kind: str | None) -> None:
    events = [e for e in _tool_and_refusal_events() if kind is None or e.type == kind]
    types = {e.type for e in events}
    assert kind in types if kind else {"tool_calls.function.arguments.delta", "refusal.delta"} <= types
    acc = StreamAccumulator("openai", keep_text=100)
    flags = [acc.add(e) for e in events]
    assert FIRST_CHUNK in flags and flags.count(FIRST_CHUNK) == 1
    assert not any(f & FIRST_TEXT for f in flags)
    assert acc.chars == 0 and acc.texts == []
    if kind is None:
        assert flags.index(FIRST_CHUNK) == 0  # the tool call's first chunk event (its name is generated content)


# --- Gemini candidates, as the SDK's own GenerateContentResponse chunks -------------------------------------------


def _gemini_chunk(candidates: list[dict[str, Any]], usage: dict[str, int] | None = None) -> Any:
    from google.genai import types

    body: dict[str, Any] = {"candidates": candidates, "model_version": "gemini-2.5-flash", "response_id": "r-1"}
    if usage is not None:
        body["usage_metadata"] = usage
    return types.GenerateContentResponse.model_validate(body)


def _gemini_span(chunks: list[Any], exporter: InMemorySpanExporter) -> dict[str, Any]:
    """The stage span of a decorated generator yielding these chunks."""

    @oc.traced_stage("generation", model="gemini-2.5-flash", provider="gcp.gemini")
    def stream() -> Iterator[Any]:
        yield from chunks

    assert list(stream()) == chunks
    (span,) = exporter.get_finished_spans()
    return dict(span.attributes or {})


def _candidate(index: int | None, text: str, finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if index is not None:
        candidate["index"] = index
    if finish is not None:
        candidate["finish_reason"] = finish
    return candidate


def test_gemini_finish_reasons_of_candidates_finishing_in_different_chunks(span_exporter: InMemorySpanExporter) -> None:
    chunks = [
        _gemini_chunk([_candidate(0, "ab"), _candidate(1, "x")]),
        _gemini_chunk([_candidate(0, "c", "STOP")]),
        _gemini_chunk([_candidate(1, "y", "MAX_TOKENS")], {"prompt_token_count": 7, "candidates_token_count": 5}),
    ]
    attrs = _gemini_span(chunks, span_exporter)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("STOP", "MAX_TOKENS")  # one per candidate, by index
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 7 and attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "r-1"


def test_gemini_reasons_in_index_order_whatever_the_order_they_finish(span_exporter: InMemorySpanExporter) -> None:
    chunks = [
        _gemini_chunk([_candidate(2, "z", "SAFETY")]),
        _gemini_chunk([_candidate(0, "a"), _candidate(1, "b", "MAX_TOKENS")]),
        _gemini_chunk([_candidate(0, "c", "STOP")]),
    ]
    attrs = _gemini_span(chunks, span_exporter)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("STOP", "MAX_TOKENS", "SAFETY")


def test_gemini_text_is_the_first_candidates_only() -> None:
    first, other = "Hello there, friend.", " and a much longer second candidate's text"
    chunks = [
        _gemini_chunk([_candidate(1, other)]),  # another candidate's text first: a generated chunk, not the token
        _gemini_chunk([_candidate(0, first[:6])]),
        _gemini_chunk([_candidate(0, first[6:], "STOP"), _candidate(1, "!", "STOP")]),
    ]
    acc = StreamAccumulator("gcp.gemini", keep_text=200)
    assert [acc.add(c) for c in chunks] == [FIRST_CHUNK, FIRST_TEXT, 0]
    assert "".join(acc.texts) == first and acc.chars == len(first)
    assert acc.result.finish_reasons == ["STOP", "STOP"]


@pytest.mark.parametrize("index", [0, None])  # the wire may omit a candidate's index 0
def test_gemini_single_candidate_stream_unchanged(index: int | None, span_exporter: InMemorySpanExporter) -> None:
    usage = {"prompt_token_count": 11, "candidates_token_count": 4, "total_token_count": 15}
    chunks = [
        _gemini_chunk([_candidate(index, "Hello")]),
        _gemini_chunk([_candidate(index, " there")], {"prompt_token_count": 11, "candidates_token_count": 2}),
        _gemini_chunk([_candidate(index, "!", "STOP")], usage),
    ]
    attrs = _gemini_span(chunks, span_exporter)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("STOP",)
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == chunks[-1].usage_metadata.prompt_token_count
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == chunks[-1].usage_metadata.candidates_token_count
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "r-1"
    assert semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN in attrs


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o-mini", "openai"),
        ("gpt-4o", "openai"),
        ("o3-mini", "openai"),
        ("claude-sonnet-4-20250514", "anthropic"),
        ("gemini-2.5-pro", "google"),  # tiered: the general formula
        ("gemini-2.5-flash", "google"),
        ("deepseek-chat", "deepseek"),
    ],
)
def test_fast_path_cost_is_exactly_the_pricing_modules(model: str, provider: str) -> None:
    from decimal import Decimal

    from otel_chatbot.spans._run import _chat_completion_attributes
    from otel_chatbot.spend._pricing import TokenUsage, compute_cost

    price = default_table().lookup(model, provider)
    assert price is not None
    for prompt, completion, cached, reasoning in [(812, 95, 0, 0), (300_000, 4000, 120_000, 900), (7, 0, 7, 0)]:
        body = {
            "model": model,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            },
        }
        fast = _chat_completion_attributes(body, price)
        assert fast is not None
        exact = compute_cost(TokenUsage(prompt, completion, cached, 0, reasoning), price)
        assert fast[semconv.GEN_AI_USAGE_COST_AMOUNT] == float(exact) and exact > Decimal(0)
