"""Conformance: every attribute a stage span carries is a registry name of the registry's type, or one of ours.

The table of registry names and types is ``tests/unit/semconv_registry.py`` (with the registry commit it came
from). Real stage spans (retrieval, generation from OpenAI-, Anthropic- and Gemini-shaped responses, streams, a
failing call, embeddings, tools, hand-recorded usage, feedback, inside ``oc.conversation``) are checked attribute by
attribute: a ``gen_ai.*`` or core key must be in the table with the right OTel type, a ``chatbot.*`` key must be an
``otel_chatbot.semconv`` constant of the type we promise, anything else fails. ``OTEL_CHATBOT_SEMCONV_COMPAT=
legacy/dup`` must add exactly the legacy names, with the current names' values.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import _state, semconv
from otel_chatbot.spend._budgets import Budget, BudgetGuard
from otel_chatbot.spend._ledger import Ledger, LedgerEntry
from tests.unit.semconv_registry import ENUMS, EVENT_NAMES, EXTENSIONS, LEGACY, REGISTRY, AttrType

pytestmark = pytest.mark.usefixtures("tracer_provider")

_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_COMPAT_ENV = "OTEL_CHATBOT_SEMCONV_COMPAT"


def _constants() -> dict[str, str]:
    """Every public ``str`` constant of ``otel_chatbot.semconv`` that names an attribute (its value has a dot)."""
    return {
        name: value
        for name, value in vars(semconv).items()
        if name.isupper() and isinstance(value, str) and "." in value and not name.startswith("INSTRUMENT_")
    }


_CHATBOT_NAMES = frozenset(v for v in _constants().values() if v.startswith("chatbot."))


# --- the checker ------------------------------------------------------------------------------------------------------


def _type_error(value: Any, expected: AttrType) -> str | None:
    """Why ``value`` (as the SDK stored it) is not of the registry type ``expected``; None when it is."""
    ok: bool
    if expected == "string":
        ok = type(value) is str
    elif expected == "int":
        ok = type(value) is int  # bool is an int subclass: not accepted; nor a float, even a whole one
    elif expected == "double":
        ok = type(value) is float and math.isfinite(value)
    elif expected == "boolean":
        ok = type(value) is bool
    elif expected == "string[]":
        ok = isinstance(value, Sequence) and not isinstance(value, str) and all(type(v) is str for v in value)
    else:  # "any": structured content, recorded on spans as a JSON string
        if type(value) is not str:
            ok = False
        else:
            try:
                json.loads(value)
                ok = True
            except ValueError:
                ok = False
    return None if ok else f"is {type(value).__name__} {value!r}, expected {expected}"


def violations(attributes: Mapping[str, Any] | None, *, allow_legacy: bool = False) -> list[str]:
    """Every attribute of ``attributes`` that is not a registry name of the right type nor one of our constants."""
    found: list[str] = []
    for key, value in (attributes or {}).items():
        if key in REGISTRY:
            expected, _source = REGISTRY[key]
            problem = _type_error(value, expected)
            if problem is None and key in ENUMS and value not in ENUMS[key]:
                problem = f"is {value!r}, not one of {sorted(ENUMS[key])}"
        elif key in LEGACY:
            if not allow_legacy:
                problem = f"is a legacy name (now {LEGACY[key]}), written only under {_COMPAT_ENV}=legacy/dup"
            else:
                problem = _type_error(value, REGISTRY[LEGACY[key]][0])
        elif key.startswith("chatbot."):
            if key not in _CHATBOT_NAMES or key not in EXTENSIONS:
                problem = "is not an otel_chatbot.semconv constant"
            else:
                problem = _type_error(value, EXTENSIONS[key])
        else:
            problem = "is neither a registry name (tests/unit/semconv_registry.py) nor a chatbot.* constant"
        if problem is not None:
            found.append(f"{key} {problem}")
    return found


def span_violations(span: ReadableSpan, *, allow_legacy: bool = False) -> list[str]:
    """Violations in the span's attributes and in its events' attributes, each prefixed by where it was found."""
    found = [f"span {span.name!r}: {v}" for v in violations(span.attributes, allow_legacy=allow_legacy)]
    for event in span.events:
        for v in violations(event.attributes, allow_legacy=allow_legacy):
            found.append(f"span {span.name!r} event {event.name!r}: {v}")
    return found


# --- the stage spans --------------------------------------------------------------------------------------------------


def _openai_detailed() -> dict[str, Any]:
    """Chat Completions JSON with cache reads and writes, reasoning and audio details, two choices."""
    return {
        "id": "chatcmpl-detailed",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "It is Par"}, "finish_reason": "length"},
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 50, "cache_write_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 20},
        },
    }


def _openai_plain(model: str = "gpt-4o-mini", **usage: Any) -> dict[str, Any]:
    """The commonest body (the decorator's fast path when content capture is off)."""
    return {
        "id": "chatcmpl-plain",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25, **usage},
    }


def _openai_chunks(*, with_usage: bool) -> Iterator[dict[str, Any]]:
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    yield {**base, "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
    yield {**base, "choices": [{"index": 0, "delta": {"content": "lo"}}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if with_usage:
        usage = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
        yield {**base, "choices": [], "usage": usage}


def _anthropic_message() -> dict[str, Any]:
    """A Messages API ``message`` with 5-minute and 1-hour cache writes, cache reads and a web search."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Bonjour"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 40,
            "cache_read_input_tokens": 500,
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
            "output_tokens": 60,
            "server_tool_use": {"web_search_requests": 2},
        },
    }


def _anthropic_events() -> Iterator[dict[str, Any]]:
    """Raw ``messages.create(stream=True)`` events: thinking, then text; cumulative usage in ``message_delta``."""
    start = {**_anthropic_message(), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": 40, "cache_read_input_tokens": 500, "output_tokens": 1}
    yield {"type": "message_start", "message": start}
    yield {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}
    yield {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Bonjour"}}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": 45, "cache_read_input_tokens": 500, "output_tokens": 61},
    }
    yield {"type": "message_stop"}


def _gemini_response() -> dict[str, Any]:
    """``GenerateContentResponse`` JSON with per-modality counts (video included), cache, thoughts and tool use."""
    return {
        "response_id": "gem-1",
        "model_version": "gemini-2.5-flash",
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finish_reason": "STOP"}],
        "usage_metadata": {
            "prompt_token_count": 1000,
            "cached_content_token_count": 400,
            "candidates_token_count": 50,
            "thoughts_token_count": 30,
            "tool_use_prompt_token_count": 20,
            "prompt_tokens_details": [
                {"modality": "TEXT", "token_count": 500},
                {"modality": "IMAGE", "token_count": 258},
                {"modality": "AUDIO", "token_count": 142},
                {"modality": "VIDEO", "token_count": 100},
            ],
            "cache_tokens_details": [
                {"modality": "TEXT", "token_count": 300},
                {"modality": "IMAGE", "token_count": 60},
                {"modality": "AUDIO", "token_count": 40},
            ],
            "candidates_tokens_details": [
                {"modality": "TEXT", "token_count": 40},
                {"modality": "IMAGE", "token_count": 6},
                {"modality": "AUDIO", "token_count": 4},
            ],
        },
    }


class _Boom(Exception):
    pass


def run_stages() -> None:
    """One span of every kind a stage produces, inside a conversation (content capture follows the environment)."""
    sampling = {
        semconv.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        semconv.GEN_AI_REQUEST_MAX_TOKENS: 256,
        semconv.GEN_AI_REQUEST_TOP_K: 40,
    }

    @oc.traced_stage("retrieval", data_source="faq")
    def retrieve(query: str) -> list[dict[str, Any]]:
        return [{"id": "doc-1", "score": 0.92}, {"id": "doc-2", "score": 1}]

    @oc.traced_stage(
        "generation",
        server_address="api.openai.com",
        server_port=443,
        attributes=sampling,
        model="gpt-4o-mini",
        provider="openai",
    )
    def generate_detailed(messages: list[dict[str, str]]) -> dict[str, Any]:
        return _openai_detailed()

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def generate_plain(messages: list[dict[str, str]]) -> dict[str, Any]:
        return _openai_plain()

    @oc.traced_stage("generation", model="openai/gpt-4o-mini", provider="openrouter")
    def generate_provider_cost(messages: list[dict[str, str]]) -> dict[str, Any]:
        return _openai_plain("openai/gpt-4o-mini", cost=0.0001234)

    @oc.traced_stage("generation", model="no-such-model-anywhere", provider="openai")
    def generate_unpriced(messages: list[dict[str, str]]) -> dict[str, Any]:
        return _openai_plain("no-such-model-anywhere")

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def stream(messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        yield from _openai_chunks(with_usage=True)

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def stream_without_usage(messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        yield from _openai_chunks(with_usage=False)

    @oc.traced_stage("generation", model="claude-sonnet-4-5", provider="anthropic")
    def anthropic(messages: list[dict[str, str]]) -> dict[str, Any]:
        return _anthropic_message()

    @oc.traced_stage("generation", model="claude-sonnet-4-5", provider="anthropic")
    def anthropic_stream(messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        yield from _anthropic_events()

    @oc.traced_stage("generation", model="gemini-2.5-flash", provider="gcp.gemini", operation="generate_content")
    def gemini(messages: list[dict[str, str]]) -> dict[str, Any]:
        return _gemini_response()

    @oc.traced_stage("generation", model="claude-sonnet-4-5", provider="anthropic")
    async def anthropic_async(messages: list[dict[str, str]]) -> dict[str, Any]:
        return _anthropic_message()

    @oc.traced_stage("generation", model="gemini-2.5-flash", provider="gcp.gemini", operation="generate_content")
    async def gemini_async_stream(messages: list[dict[str, str]]) -> AsyncIterator[dict[str, Any]]:
        yield _gemini_response()

    async def run_async(messages: list[dict[str, str]]) -> None:
        await anthropic_async(messages)
        async for _ in gemini_async_stream(messages):
            pass

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def failing(messages: list[dict[str, str]]) -> dict[str, Any]:
        raise _Boom("upstream said no")

    @oc.traced_stage("embeddings", model="text-embedding-3-small", provider="openai")
    def embed(text: str) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }

    @oc.traced_stage("tool")
    def lookup_order(order_id: str) -> str:
        return "shipped"

    @oc.traced_stage("memory_update")
    def remember(note: str) -> None:
        return None

    @oc.traced_stage
    def rerank(docs: list[str]) -> list[str]:
        return docs

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    with oc.conversation(conversation_id="c-42", user_id="u-7", tenant_id="acme", variant="B"):
        retrieve("capital of France")
        with oc.traced_stage("retrieval", data_source="faq") as stage:
            stage.set_attribute(semconv.GEN_AI_RETRIEVAL_TOP_K, 5)
            stage.set_attribute(semconv.CHATBOT_RETRIEVAL_DOCUMENTS, 3)
            stage.set_attribute(semconv.CHATBOT_CACHE_HIT, False)
        generate_detailed(messages)
        generate_plain(messages)
        generate_provider_cost(messages)
        generate_unpriced(messages)
        list(stream(messages))
        list(stream_without_usage(messages))
        anthropic(messages)
        list(anthropic_stream(messages))
        gemini(messages)
        asyncio.run(run_async(messages))
        with pytest.raises(_Boom):
            failing(messages)
        embed("hello")
        lookup_order("o-1")
        remember("likes Paris")
        rerank(["a", "b"])
        with oc.traced_stage("generation", provider="anthropic") as stage:
            stage.record_usage(
                1000, 200, model="claude-sonnet-4-5", cache_read_tokens=600, cache_write_tokens=300, reasoning_tokens=50
            )
            oc.record_feedback(1.0, comment="great answer")


def _spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    spans = list(exporter.get_finished_spans())
    assert len(spans) == 19, [s.name for s in spans]  # one per stage call in run_stages()
    return spans


def _set_env(monkeypatch: pytest.MonkeyPatch, *, capture: bool, legacy: bool) -> None:
    """Content capture and the compatibility switch as a user sets them, then the process state re-read."""
    monkeypatch.setenv(_CAPTURE_ENV, "true" if capture else "false")
    if legacy:
        monkeypatch.setenv(_COMPAT_ENV, "legacy/dup")
    else:
        monkeypatch.delenv(_COMPAT_ENV, raising=False)
    _state.reset()


def _seen(spans: Sequence[ReadableSpan]) -> set[str]:
    keys: set[str] = set()
    for span in spans:
        keys.update(span.attributes or {})
        for event in span.events:
            keys.update(event.attributes or {})
    return keys


# Keys the scenarios above must produce (so that a broken extraction cannot make the conformance check pass on
# spans that carry nothing): every usage, cost and response name, and every chatbot.* one a stage span can carry.
_ALWAYS = {
    semconv.GEN_AI_OPERATION_NAME,
    semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_REQUEST_MODEL,
    semconv.GEN_AI_REQUEST_TEMPERATURE,
    semconv.GEN_AI_REQUEST_MAX_TOKENS,
    semconv.GEN_AI_REQUEST_TOP_K,
    semconv.GEN_AI_RETRIEVAL_TOP_K,
    semconv.GEN_AI_REQUEST_STREAM,
    semconv.GEN_AI_RESPONSE_ID,
    semconv.GEN_AI_RESPONSE_MODEL,
    semconv.GEN_AI_RESPONSE_FINISH_REASONS,
    semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    semconv.GEN_AI_USAGE_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_TEXT_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_IMAGE_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_AUDIO_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_TEXT_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_TEXT_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_IMAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_AUDIO_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_COST_AMOUNT,
    semconv.GEN_AI_USAGE_COST_CURRENCY,
    semconv.GEN_AI_USAGE_COST_SOURCE,
    semconv.GEN_AI_CONVERSATION_ID,
    semconv.GEN_AI_DATA_SOURCE_ID,
    semconv.GEN_AI_TOOL_NAME,
    semconv.SERVER_ADDRESS,
    semconv.SERVER_PORT,
    semconv.ERROR_TYPE,
    semconv.USER_ID,
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    semconv.CHATBOT_STAGE,
    semconv.CHATBOT_TENANT_ID,
    semconv.CHATBOT_VARIANT,
    semconv.CHATBOT_COST_UNKNOWN_MODEL,
    semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN,
    semconv.CHATBOT_COST_LOCAL_AMOUNT,
    semconv.CHATBOT_COST_PRICE_VERSION,
    semconv.CHATBOT_USAGE_CACHE_WRITE_5M_INPUT_TOKENS,
    semconv.CHATBOT_USAGE_CACHE_WRITE_1H_INPUT_TOKENS,
    semconv.CHATBOT_USAGE_VIDEO_INPUT_TOKENS,
    semconv.CHATBOT_USAGE_TOOL_USE_INPUT_TOKENS,
    semconv.CHATBOT_USAGE_WEB_SEARCHES,
    semconv.CHATBOT_USAGE_ESTIMATED,
    semconv.CHATBOT_CACHE_HIT,
    semconv.CHATBOT_RETRIEVAL_DOCUMENTS,
    semconv.CHATBOT_FEEDBACK_SCORE,
}
_CONTENT = {
    semconv.GEN_AI_INPUT_MESSAGES,
    semconv.GEN_AI_OUTPUT_MESSAGES,
    semconv.GEN_AI_RETRIEVAL_QUERY_TEXT,
    semconv.GEN_AI_RETRIEVAL_DOCUMENTS,
    semconv.CHATBOT_FEEDBACK_COMMENT,
}


# --- the tests --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", [False, True], ids=["content-off", "content-on"])
def test_every_attribute_of_every_stage_span_conforms(
    capture: bool, span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set_env(monkeypatch, capture=capture, legacy=False)
    run_stages()
    spans = _spans(span_exporter)
    problems = [p for span in spans for p in span_violations(span)]
    assert problems == []
    generations = [s for s in spans if (s.attributes or {}).get(semconv.CHATBOT_STAGE) == "generation"]
    unmeasured = [
        s.name
        for s in generations
        if semconv.ERROR_TYPE not in (s.attributes or {})
        and semconv.GEN_AI_USAGE_INPUT_TOKENS not in (s.attributes or {})
    ]
    assert len(generations) == 13 and unmeasured == []  # every wrapper (sync, async, streams) measured its call
    seen = _seen(spans)
    assert _ALWAYS <= seen, f"the scenarios no longer produce {sorted(_ALWAYS - seen)}"
    if capture:
        assert _CONTENT <= seen, f"content capture did not produce {sorted(_CONTENT - seen)}"
    else:
        assert not (_CONTENT & seen), f"content written with capture off: {sorted(_CONTENT & seen)}"
    assert not (set(LEGACY) & seen), "legacy names written without the compatibility switch"


def test_legacy_dup_adds_exactly_the_legacy_names(
    span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set_env(monkeypatch, capture=True, legacy=False)
    run_stages()
    current = _spans(span_exporter)
    span_exporter.clear()
    _set_env(monkeypatch, capture=True, legacy=True)
    run_stages()
    dup = _spans(span_exporter)

    assert [s.name for s in dup] == [s.name for s in current]
    added_anywhere: set[str] = set()
    for new, old in zip(current, dup, strict=True):
        now, before = dict(new.attributes or {}), dict(old.attributes or {})
        expected = {legacy for legacy, name in LEGACY.items() if name in now}
        assert set(before) - set(now) == expected, new.name
        assert set(now) <= set(before), new.name  # the current names stay
        for legacy in expected:
            assert before[legacy] == before[LEGACY[legacy]], (new.name, legacy)
        assert span_violations(old, allow_legacy=True) == []
        assert span_violations(old) == [
            f"span {old.name!r}: {legacy} is a legacy name (now {LEGACY[legacy]}), written only under "
            f"{_COMPAT_ENV}=legacy/dup"
            for legacy in before
            if legacy in LEGACY
        ]
        added_anywhere |= expected
    assert added_anywhere == set(LEGACY)  # both legacy names were exercised


def test_every_semconv_attribute_constant_is_a_registry_name_or_ours() -> None:
    unknown = {}
    for name, value in _constants().items():
        if value.startswith("chatbot."):
            if value not in EXTENSIONS and value not in EVENT_NAMES:
                unknown[name] = f"{value}: a chatbot.* constant without a promised type in EXTENSIONS"
        elif value in LEGACY:
            if not name.startswith("GEN_AI_") or LEGACY[value] not in _constants().values():
                unknown[name] = f"{value}: legacy name whose current name is not a constant"
        elif value not in REGISTRY:
            unknown[name] = f"{value}: not in the registry table (tests/unit/semconv_registry.py)"
    assert unknown == {}


def test_the_table_is_consistent() -> None:
    constants = set(_constants().values())
    # Our extensions are exactly the chatbot.* constants naming attributes; none shadows a registry name.
    assert set(EXTENSIONS) == {v for v in constants if v.startswith("chatbot.")} - EVENT_NAMES
    assert EVENT_NAMES <= constants
    assert all(name.startswith("chatbot.") for name in EXTENSIONS)
    # A legacy name is never also current, and it maps to a current name of the same type.
    assert not (set(LEGACY) & set(REGISTRY))
    assert set(LEGACY.values()) <= set(REGISTRY)
    assert set(ENUMS) <= set(REGISTRY)
    # Every GenAI/core name in the table is one the package defines, or a registry name we should use (see below).
    assert set(REGISTRY) - constants <= {"exception.type", "exception.message", "exception.stacktrace"}


def test_a_misspelled_or_mistyped_attribute_fails() -> None:
    """Self-test of the checker on a hand-made span: each deliberate mistake is reported, and only those."""
    good: dict[str, Any] = {
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.cost.amount": 0.5,
        "gen_ai.response.finish_reasons": ("stop",),
        "chatbot.stage": "generation",
    }
    assert span_violations(ReadableSpan(name="ok", attributes=good)) == []
    bad: dict[str, Any] = {
        "gen_ai.usage.input_token": 10,  # misspelled
        "gen_ai.usage.cache_creation.input_tokens": 5,  # legacy without the switch
        "gen_ai.usage.output_tokens": 5.0,  # int written as a float
        "gen_ai.usage.reasoning.output_tokens": True,  # int written as a bool
        "gen_ai.usage.cost.amount": 1,  # double written as an int
        "gen_ai.response.finish_reasons": "stop",  # string[] written as a string
        "gen_ai.request.top_k": 40.0,  # the registry's int since #217
        "gen_ai.usage.cost.source": "estimated",  # not an enum member
        "gen_ai.input.messages": "{not json",  # structured content that is not JSON
        "chatbot.usage.cache_write_5m_input_tokens": 3,  # not a constant
        "chatbot.usage.estimated": "true",  # boolean written as a string
        "llm.usage.total_tokens": 15,  # a foreign namespace
    }
    found = span_violations(ReadableSpan(name="bad", attributes=bad))
    assert len(found) == len(bad), found
    for key in bad:
        assert any(f": {key} " in problem for problem in found), key


def test_the_budget_event_conforms(tmp_path: Path, span_exporter: InMemorySpanExporter) -> None:
    """The ``chatbot.budget.exceeded`` event a soft budget adds to the stage span, with a limit given as an int (as
    in docs/budgets-and-ledger.md: ``Budget(limit_usd=50)``)."""
    ledger = Ledger.open(str(tmp_path / "usage.db"))
    try:
        ledger.append(LedgerEntry(ts=time.time(), tenant="acme", user="u-7", cost_usd=60.0))
        assert ledger.flush(30)
        guard = BudgetGuard([Budget(limit_usd=50, window="1d")], ledger, alerts=[])
        with oc.traced_stage("generation", model="gpt-4o-mini", provider="openai"):
            guard.check(tenant_id="acme", user_id="u-7")
    finally:
        ledger.close()
    (span,) = span_exporter.get_finished_spans()
    assert [e.name for e in span.events] == [semconv.CHATBOT_BUDGET_EVENT]
    assert span_violations(span) == []
