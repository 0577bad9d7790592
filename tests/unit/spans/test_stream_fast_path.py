"""The fast path of ``StreamAccumulator.add`` (plain text deltas read directly) gives what the general path gives.

Every chunk of a corpus (dicts of OpenAI chat chunks and Anthropic events, the openai and anthropic SDKs' pydantic
objects, strings; ordinary text deltas and every shape the fast path must leave to ``extract``) is fed, in several
orders, to one accumulator through ``add`` and to another through the general path only: flags, counts, kept text
and the merged ``Extracted`` must be identical after every chunk.
"""

from __future__ import annotations

import itertools
from typing import Any

import anthropic.types as anthropic_types
import pytest
from openai.types.chat import ChatCompletionChunk

from otel_chatbot.spans import _extraction
from otel_chatbot.spans._extraction import Extracted, StreamAccumulator


def _chunk(delta: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "delta": {"content": "hi "} if delta is None else delta,
        "finish_reason": None,
    }
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [choice],
    }
    for key, value in overrides.items():
        if key.startswith("choice_"):
            choice[key.removeprefix("choice_")] = value
        else:
            body[key] = value
    return body


_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}

OPENAI_DICTS: list[dict[str, Any]] = [
    _chunk(),
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "x", "role": "assistant", "refusal": None}),
    _chunk(model="gpt-4o-mini-2024-07-18", id="chatcmpl-2"),
    _chunk(model=None, id=None),
    _chunk(model="", id=""),
    _chunk(model=3),
    _chunk(id=["x"]),
    _chunk(choice_index=None),
    _chunk(choice_index=1),
    _chunk(choice_index=False),
    _chunk(choice_index="0"),
    _chunk(choice_index=0.0),
    _chunk(choice_finish_reason="stop"),
    _chunk(choice_finish_reason=""),
    _chunk({}, choice_finish_reason="length"),
    _chunk(usage=_USAGE),
    _chunk(usage=None),
    _chunk(stop_reason="end_turn"),
    _chunk(stop_reason=None),
    _chunk(type="message"),
    _chunk(type="content_block_delta"),
    _chunk(type=None),
    _chunk({"content": None, "tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}),
    _chunk({"content": None, "reasoning_content": "thinking"}),
    _chunk({"content": 5}),
    _chunk({"content": ["a"]}),
    {**_chunk(), "choices": []},
    {**_chunk(), "choices": [], "usage": _USAGE},
    *(
        {**_chunk(), "choices": [], "usage": usage}
        for usage in (
            {"prompt_tokens": 800, "completion_tokens": 49, "total_tokens": 849},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": None},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {}},
            {
                "prompt_tokens": 8,
                "completion_tokens": 4,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            },
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": None}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": True}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 2.0}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": -1}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"audio_tokens": 3}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"audio_tokens": 0.0}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"cache_write_tokens": 5}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"image_tokens": 5}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": [1]},
            {"prompt_tokens": 8, "completion_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 0}},
            {
                "prompt_tokens": 8,
                "completion_tokens": 4,
                "completion_tokens_details": {
                    "reasoning_tokens": 3,
                    "audio_tokens": None,
                    "accepted_prediction_tokens": 1,
                    "rejected_prediction_tokens": "x",
                },
            },
            {"prompt_tokens": 8, "completion_tokens": 4, "completion_tokens_details": {"audio_tokens": 7}},
            {"prompt_tokens": 8, "completion_tokens": 4, "completion_tokens_details": {"image_tokens": 2}},
            {"prompt_tokens": 8, "completion_tokens": 4, "prompt_tokens_details": {"cache_write_tokens": 0}},
            {
                "prompt_tokens": 8,
                "completion_tokens": 4,
                "prompt_tokens_details": {"text_tokens": 8, "image_tokens": 0},
            },
            {"prompt_tokens": 8, "completion_tokens": 4, "cost": 0.002},
            {"prompt_tokens": 8.0, "completion_tokens": 4},
            {"prompt_tokens": True, "completion_tokens": 4},
            {"prompt_tokens": -8, "completion_tokens": 4},
            {"prompt_tokens": 8},
            {"completion_tokens": 4},
            {"input_tokens": 8, "output_tokens": 4},
            {},
        )
    ),
    {**_chunk(), "choices": [], "usage": _USAGE, "stop_reason": "stop"},
    {**_chunk(), "choices": [], "usage": _USAGE, "type": "x"},
    {**_chunk(), "choices": [], "usage": _USAGE, "model": 3},
    {**_chunk(), "choices": [], "usage": _USAGE, "model": "", "id": None},
    {**_chunk(), "choices": [], "usage": "usage"},
    {**_chunk(), "choices": [_chunk()["choices"][0], {**_chunk()["choices"][0], "index": 1}]},
    {**_chunk(), "choices": ({"index": 0, "delta": {"content": "t"}},)},
    {**_chunk(), "choices": [["not", "a", "dict"]]},
    {**_chunk(), "choices": [{"index": 0, "delta": "text"}]},
    {**_chunk(), "choices": None},
]

ANTHROPIC_DICTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "usage": {"input_tokens": 9, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"text": "untyped"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": None}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
    {"type": "content_block_delta", "index": 0, "delta": "text"},
    {"type": "text", "text": "Hel", "snapshot": "Hel"},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
    {"type": "message_stop"},
    {"answer": "an app's own dict"},
]


def _openai_objects() -> list[Any]:
    objects: list[Any] = []
    for body in OPENAI_DICTS:
        try:
            objects.append(ChatCompletionChunk.model_validate(body))
        except Exception:
            pass
        objects.append(ChatCompletionChunk.model_construct(**body))  # unvalidated: plain dicts inside
    with_cost = ChatCompletionChunk.model_validate({**_chunk(), "choices": [], "usage": {**_USAGE, "cost": 0.5}})
    objects.append(with_cost)
    extra = ChatCompletionChunk.model_validate({**_chunk(), "stop_reason": "stop"})
    typed = ChatCompletionChunk.model_validate({**_chunk(), "type": "content_block_delta"})
    return [*objects, extra, typed]


def _anthropic_objects() -> list[Any]:
    delta = anthropic_types.RawContentBlockDeltaEvent.model_validate
    return [
        delta({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        delta({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}}),
        delta({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}}),
        anthropic_types.RawContentBlockDeltaEvent.model_construct(type="content_block_delta", index=0, delta={"x": 1}),
        anthropic_types.RawMessageDeltaEvent.model_validate(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}
        ),
    ]


CORPUS: list[Any] = [*OPENAI_DICTS, *ANTHROPIC_DICTS, *_openai_objects(), *_anthropic_objects(), "plain", "", b"by"]


def _state(acc: StreamAccumulator) -> tuple[Any, ...]:
    fields = tuple(getattr(acc.result, name) for name in Extracted.__slots__)
    return (fields, acc.chars, acc.chunks, acc.first_chunk, acc.first_content, list(acc.texts), acc._raw_generated)


def _general(acc: StreamAccumulator, chunk: Any) -> int:
    return acc._add(chunk)


def _check(sequence: list[Any], provider: str | None, keep: int) -> None:
    fast, general = StreamAccumulator(provider, keep), StreamAccumulator(provider, keep)
    for position, chunk in enumerate(sequence):
        assert fast.add(chunk) == _general(general, chunk), (position, chunk)
        assert _state(fast) == _state(general), (position, chunk)


def test_each_chunk_after_each_other() -> None:
    for first, second in itertools.product(CORPUS, repeat=2):
        _check([first, second, first], "openai", 5)


@pytest.mark.parametrize("keep", [0, 5, 10_000])
@pytest.mark.parametrize("provider", [None, "openai", "anthropic"])
def test_whole_corpus_forwards_and_backwards(provider: str | None, keep: int) -> None:
    _check(CORPUS, provider, keep)
    _check(CORPUS[::-1], provider, keep)


def test_the_fast_path_is_taken_for_ordinary_text_deltas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commonest chunks never reach ``extract`` (else this whole module tests nothing)."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("general path")

    monkeypatch.setattr(_extraction, "extract", fail)
    acc = StreamAccumulator("openai")
    ordinary = [
        _chunk(),
        {**_chunk(), "choices": [], "usage": _USAGE},
        ChatCompletionChunk.model_validate({**_chunk(), "choices": [], "usage": _USAGE}),
        ChatCompletionChunk.model_validate(_chunk()),
        ANTHROPIC_DICTS[2],
        _anthropic_objects()[0],
        "text",
    ]
    for chunk in ordinary:
        acc.add(chunk)
    assert acc.chunks == len(ordinary) - 2  # the two usage chunks generate nothing
    assert acc.result.input_tokens == 12
    assert acc.result.cache_read_tokens == 4
