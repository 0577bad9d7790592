"""OpenAI shapes: Chat Completions (and their stream chunks), Responses (and their stream events), embeddings.

Semconv and OpenAI agree: ``prompt_tokens`` / ``input_tokens`` include cached tokens, ``completion_tokens`` /
``output_tokens`` include reasoning tokens. Audio and image counts in the ``*_tokens_details`` are parts of those
totals; they go to ``Extracted.details`` under genai-prices' usage keys. A provider-reported ``usage.cost`` (OpenRouter
and other OpenAI-compatible gateways) is kept as the provider's cost.

Several choices (``n > 1``): the finish reasons of all choices are kept, ordered by choice index (in a stream each
chunk carries one choice index, and ``Extracted.choice_reasons`` keeps one reason per index across chunks). The text
(for content capture, the time to first token and the estimate of a stream without usage) is choice 0's only, the
answer an app shows; a delta of any choice (text, reasoning, tool call, audio) is a generated chunk. An audio answer's
transcript is its text.

The ``chat.completions.stream()`` helper yields a ``ChunkEvent`` (read as its ``chunk``: text, usage, id, finish
reason) followed by the derived events of that chunk. ``content.delta`` (its text), ``refusal.delta`` and
``tool_calls.function.arguments.delta`` (generated, no text) are marked ``echo``: the accumulator counts them only when
the chunk event just before was not yielded, so a consumer yielding every event counts each token once and one
yielding only ``content.delta`` events still gets its times to first chunk and first token. No derived event carries
usage, the id or a finish reason (``content.done`` has the text only): such a consumer's usage is estimated from the
text and flagged. Their deltas name no choice index, so with ``n > 1`` that estimate covers every choice's text. The
``*.done`` and logprobs events are ignored. ``responses.stream()`` yields the raw Responses events (with a
``snapshot``), read as such.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

from otel_chatbot.spans._extraction import Extracted, count, get, text_of_str, usage_from

__all__ = [
    "HELPER_EVENT_TYPES",
    "OBJECT_TYPES",
    "chat_or_other",
    "chat_usage",
    "helper_event",
    "responses_event",
    "responses_usage",
]

OBJECT_TYPES = frozenset({"chat.completion", "chat.completion.chunk", "response", "list", "text_completion"})

HELPER_EVENT_TYPES = frozenset(
    {
        "chunk",
        "content.delta",
        "content.done",
        "refusal.delta",
        "refusal.done",
        "tool_calls.function.arguments.delta",
        "tool_calls.function.arguments.done",
        "logprobs.content.delta",
        "logprobs.content.done",
        "logprobs.refusal.delta",
        "logprobs.refusal.done",
    }
)
"""Event types of the openai SDK's ``chat.completions.stream()`` helper (``openai.lib.streaming.chat``)."""


def helper_event(obj: Any, kind: str, provider: str | None, want_text: bool) -> Extracted | None:
    """A ``chat.completions.stream()`` event: a ``ChunkEvent`` is read as its chunk (text, usage, id, finish reason).

    The derived delta events repeat the chunk event just before them (marked ``echo``: counted only when that chunk
    was not seen), so a consumer that yields only ``content.delta`` events still gets its times to first chunk and
    first token and a text size to estimate usage from (the usage itself is only on chunks: estimated and flagged).
    """
    if kind == "chunk":
        chunk = get(obj, "chunk")
        return chat_or_other(chunk, provider, want_text) if chunk is not None else None
    if kind == "content.delta":
        text = get(obj, "delta")
        if not isinstance(text, str):
            return None
        out = Extracted(text=text, generated=bool(text))
    elif kind in ("refusal.delta", "tool_calls.function.arguments.delta"):
        out = Extracted(generated=True)
    else:
        return None
    out.echo = True
    return out


def _provider_cost(usage: Any, out: Extracted) -> None:
    cost = get(usage, "cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost) and cost >= 0:
        out.provider_cost = float(cost)


def chat_usage(usage: Any, out: Extracted) -> None:
    """Chat Completions ``usage`` (also embeddings: ``prompt_tokens`` only)."""
    out.input_tokens = count(get(usage, "prompt_tokens"))
    out.output_tokens = count(get(usage, "completion_tokens"))
    prompt_details = get(usage, "prompt_tokens_details")
    completion_details = get(usage, "completion_tokens_details")
    out.cache_read_tokens = count(get(prompt_details, "cached_tokens"))
    out.reasoning_tokens = count(get(completion_details, "reasoning_tokens"))
    if prompt_details is not None:
        out.cache_write_tokens = count(get(prompt_details, "cache_write_tokens"))
        out.detail("input_audio_tokens", get(prompt_details, "audio_tokens"))
        out.detail("input_image_tokens", get(prompt_details, "image_tokens"))
    if completion_details is not None:
        out.detail("output_audio_tokens", get(completion_details, "audio_tokens"))
        out.detail("output_image_tokens", get(completion_details, "image_tokens"))
    _provider_cost(usage, out)


def responses_usage(usage: Any, out: Extracted) -> None:
    """Responses API ``usage``: input/output tokens with ``*_tokens_details``."""
    out.input_tokens = count(get(usage, "input_tokens"))
    out.output_tokens = count(get(usage, "output_tokens"))
    input_details = get(usage, "input_tokens_details")
    out.cache_read_tokens = count(get(input_details, "cached_tokens"))
    out.reasoning_tokens = count(get(get(usage, "output_tokens_details"), "reasoning_tokens"))
    if input_details is not None:
        out.cache_write_tokens = count(get(input_details, "cache_write_tokens"))
    _provider_cost(usage, out)


def chat_or_other(obj: Any, provider: str | None, want_text: bool) -> Extracted | None:
    """A Chat Completion, a chat chunk, a Responses ``response``, an embeddings list, or a dict with ``usage``."""
    out = Extracted()
    usage_from(get(obj, "usage"), out, provider)
    out.response_model = text_of_str(get(obj, "model"))
    out.response_id = text_of_str(get(obj, "id"))
    obj_type = get(obj, "object")
    choices = get(obj, "choices")
    if choices is not None:
        _choices(choices, out, want_text=want_text or obj_type == "chat.completion.chunk")
    elif obj_type == "response":
        _response_output(obj, out, want_text)
    elif want_text:
        text = get(obj, "output_text")
        if not isinstance(text, str):
            text = get(obj, "text")
        if not isinstance(text, str):
            text = _content_text(get(obj, "content"))
        out.text = text if isinstance(text, str) else None
    if not out.finish_reasons and (stop := text_of_str(get(obj, "stop_reason"))):  # a dict in Anthropic's shape
        out.finish_reasons = [stop]
    if not (out.has_usage or out.response_model or out.response_id or out.finish_reasons or out.text):
        return None
    return out


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, str | bytes):
        texts = [t for block in content if isinstance(t := get(block, "text"), str)]
        return "".join(texts) if texts else None
    return None


def _choices(choices: Any, out: Extracted, *, want_text: bool) -> None:
    """Choice 0's text, and the finish reasons of every choice (``n > 1``: one per choice, by index)."""
    if not isinstance(choices, list | tuple):
        if not isinstance(choices, Sequence) or isinstance(choices, str | bytes):
            return
    reasons: list[str] = []
    for position, choice in enumerate(choices):
        index = get(choice, "index")
        if not isinstance(index, int):
            index = position
        delta = get(choice, "delta")
        reason = text_of_str(get(choice, "finish_reason"))
        if delta is not None:  # a stream chunk: one choice index each, reasons kept per index across chunks
            if reason:
                out.choice_reasons = (
                    {index: reason} if out.choice_reasons is None else {**out.choice_reasons, index: reason}
                )
            content = get(delta, "content")
            if isinstance(content, str) and content:
                out.generated = True
                if index == 0:
                    out.text = content if out.text is None else out.text + content
            elif (audio := get(delta, "audio")) is not None:
                out.generated = True
                transcript = get(audio, "transcript")
                if index == 0 and isinstance(transcript, str) and transcript:
                    out.text = transcript
            elif get(delta, "tool_calls") or get(delta, "function_call") or get(delta, "refusal"):
                out.generated = True
            elif _reasoning_delta(delta):
                out.generated = True
            continue
        if reason:
            reasons.append(reason)
        if want_text and index == 0:
            message = get(choice, "message")
            content = get(message, "content")
            if not isinstance(content, str):
                content = get(get(message, "audio"), "transcript")
            if not isinstance(content, str):
                content = get(choice, "text")  # legacy completions
            if isinstance(content, str):
                out.text = content
    if out.choice_reasons:
        choice_reasons = out.choice_reasons
        out.finish_reasons = [choice_reasons[i] for i in sorted(choice_reasons)]
    elif reasons:
        out.finish_reasons = reasons


def _reasoning_delta(delta: Any) -> bool:
    """A reasoning delta of OpenAI-compatible servers (``reasoning_content`` / ``reasoning``)."""
    for key in ("reasoning_content", "reasoning"):
        value = get(delta, key)
        if isinstance(value, str) and value:
            return True
    return False


def _response_output(obj: Any, out: Extracted, want_text: bool) -> None:
    status = text_of_str(get(obj, "status"))
    if status == "incomplete":  # why it stopped (``max_output_tokens``, ``content_filter``) says more than the status
        status = text_of_str(get(get(obj, "incomplete_details"), "reason")) or status
    if status:
        out.finish_reasons = [status]
    if want_text:
        text = get(obj, "output_text")  # the SDK's convenience property
        if not isinstance(text, str):
            parts = [
                t
                for item in get(obj, "output") or ()
                for c in get(item, "content") or ()
                if isinstance(t := get(c, "text"), str)
            ]
            text = "".join(parts) if parts else None
        out.text = text


_GENERATED_EVENTS = (
    "response.output_text.delta",
    "response.refusal.delta",
    "response.reasoning_text.delta",
    "response.reasoning_summary_text.delta",
    "response.function_call_arguments.delta",
    "response.custom_tool_call_input.delta",
)


def responses_event(obj: Any, kind: str, provider: str | None, want_text: bool) -> Extracted | None:
    """A Responses stream event: text and other generated deltas, and the final ``response.completed``."""
    if kind == "response.output_text.delta":
        text = get(obj, "delta")
        if not isinstance(text, str):
            return None
        out = Extracted()
        out.text = text
        out.generated = bool(text)
        return out
    if kind in _GENERATED_EVENTS:
        out = Extracted()
        out.generated = True
        return out
    if kind == "response.created":  # the id and model, in case the stream ends before its final event
        response = get(obj, "response")
        model, response_id = text_of_str(get(response, "model")), text_of_str(get(response, "id"))
        return Extracted(response_model=model, response_id=response_id) if model or response_id else None
    if kind in ("response.completed", "response.incomplete", "response.failed") and get(obj, "response") is not None:
        # The final response repeats the whole text: streams must not count it twice.
        return chat_or_other(get(obj, "response"), provider, want_text=False)
    return None


# --- stream chunks: the fast path ----------------------------------------------------------------------------------
# The commonest chunk of a stream is a plain text delta of choice 0. ``StreamAccumulator.add`` reads it here with a
# few direct lookups instead of ``extract``; anything else (usage, a finish reason, several choices, a tool call, an
# odd type anywhere) returns None and takes the general path, which a test checks gives the same result.


def chunk_text(chunk: dict[str, Any], result: Extracted) -> str | None:
    """The text of a Chat Completions chunk dict that is a plain text delta of choice 0 (its model and id merged into
    ``result``, as ``Extracted.merge`` would); None, with ``result`` untouched, for any other chunk."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") is not None:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict:
        return None
    text = delta.get("content")
    if type(text) is not str or not text:
        return None
    index = choice.get("index")
    if (index is not None and (type(index) is not int or index != 0)) or chunk.get("type") is not None:
        return None
    if chunk.get("usage") is not None or chunk.get("stop_reason") is not None:
        return None
    return text if _merge_ids(chunk.get("model"), chunk.get("id"), result) else None


def _merge_ids(model: Any, response_id: Any, result: Extracted) -> bool:
    """Note a fast-path chunk's model and id; False (nothing noted) when either is not a string or None."""
    if (model is not None and type(model) is not str) or (response_id is not None and type(response_id) is not str):
        return False
    if model:
        result.response_model = model
    if response_id:
        result.response_id = response_id
    return True


def sdk_chunk_reader(cls: type) -> Any:
    """``chunk_text`` for the openai SDK's ``ChatCompletionChunk`` class (attributes read directly), or None.

    The reader also merges the final usage chunk (``sdk_usage_chunk``): it then returns ``""``, a chunk with nothing
    to count.
    """
    module = sys.modules.get(cls.__module__)
    choice_cls: Any = getattr(module, "Choice", None)
    delta_cls: Any = getattr(module, "ChoiceDelta", None)
    if cls.__name__ != "ChatCompletionChunk" or not isinstance(choice_cls, type) or not isinstance(delta_cls, type):
        return None
    if not hasattr(cls, "__pydantic_extra__"):  # pydantic v1: read by the general path
        return None
    expected: tuple[Any, Any] = (choice_cls, delta_cls)

    def sdk_chunk_text(chunk: Any, result: Extracted) -> str | None:
        choice_class, delta_class = expected
        extra = chunk.__pydantic_extra__  # an extra ``type`` or ``stop_reason`` would route or add to the chunk
        if extra and ("type" in extra or extra.get("stop_reason") is not None):
            return None
        choices = chunk.choices
        if type(choices) is list and not choices:  # the usage chunk: "" when merged, nothing to count
            return "" if sdk_usage_chunk(chunk, result) else None
        if type(choices) is not list or len(choices) != 1 or chunk.usage is not None:
            return None
        choice: Any = choices[0]
        if type(choice) is not choice_class or choice.finish_reason is not None or choice.index != 0:
            return None
        delta: Any = choice.delta
        if type(delta) is not delta_class:
            return None
        text = delta.content
        if type(text) is not str or not text or type(choice.index) is not int:
            return None
        return text if _merge_ids(chunk.model, chunk.id, result) else None

    return sdk_chunk_text


def _nothing(value: Any) -> bool:
    return value is None or (type(value) is int and value == 0)


def _detail_count(details: dict[str, Any] | None, key: str) -> int | None | bool:
    """``details[key]`` as ``chat_usage`` reads it (None when absent), or False when the details hold anything the
    fast path leaves to it (a cache-write count, a non-zero audio or image count, a count that is not a plain
    non-negative int)."""
    if details is None:
        return None
    get_ = details.get
    if get_("cache_write_tokens") is not None or not (
        _nothing(get_("audio_tokens")) and _nothing(get_("image_tokens"))
    ):
        return False
    value = get_(key)
    if value is None:
        return None
    return value if type(value) is int and value >= 0 else False


def _usage_fields(
    usage: dict[str, Any], prompt_details: Any, completion_details: Any
) -> tuple[int, int, int | None, int | None] | None:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if type(prompt) is not int or type(completion) is not int or prompt < 0 or completion < 0 or "cost" in usage:
        return None
    if (prompt_details is not None and type(prompt_details) is not dict) or (
        completion_details is not None and type(completion_details) is not dict
    ):
        return None
    cached = _detail_count(prompt_details, "cached_tokens")
    reasoning = _detail_count(completion_details, "reasoning_tokens")
    if cached is False or reasoning is False:
        return None
    return prompt, completion, cached, reasoning


def _merge_usage(
    fields: tuple[int, int, int | None, int | None], model: Any, response_id: Any, result: Extracted
) -> bool:
    if (model is not None and type(model) is not str) or (response_id is not None and type(response_id) is not str):
        return False
    result.input_tokens, result.output_tokens, cached, reasoning = fields
    if cached is not None:
        result.cache_read_tokens = cached
    if reasoning is not None:
        result.reasoning_tokens = reasoning
    if model:
        result.response_model = model
    if response_id:
        result.response_id = response_id
    result.uncached_input_tokens = None  # as ``Extracted.merge``: a total given as such wins
    return True


def usage_chunk(chunk: dict[str, Any], result: Extracted) -> bool:
    """Merge the final usage chunk of a Chat Completions stream dict (no choices; plain token counts, cached and
    reasoning tokens) into ``result`` as ``extract`` + ``Extracted.merge`` would; False, ``result`` untouched, for any
    other chunk (audio, image or cache-write counts, a provider cost, a finish reason: the general path)."""
    choices, usage = chunk.get("choices"), chunk.get("usage")
    if type(choices) is not list or choices or type(usage) is not dict:
        return False
    if chunk.get("type") is not None or chunk.get("stop_reason") is not None:
        return False
    fields = _usage_fields(usage, usage.get("prompt_tokens_details"), usage.get("completion_tokens_details"))
    return fields is not None and _merge_usage(fields, chunk.get("model"), chunk.get("id"), result)


def _plain(obj: Any) -> dict[str, Any] | None:
    """A pydantic (v2) object's fields and extras as one dict, what ``get`` reads from it; None stays None."""
    if obj is None:
        return None
    fields: dict[str, Any] = obj.__dict__
    extra = obj.__pydantic_extra__
    return {**fields, **extra} if extra else fields


def sdk_usage_chunk(chunk: Any, result: Extracted) -> bool:
    """``usage_chunk`` for the openai SDK's ``ChatCompletionChunk`` (its usage objects read as plain dicts)."""
    extra = chunk.__pydantic_extra__
    if extra and ("type" in extra or extra.get("stop_reason") is not None):
        return False
    choices, usage = chunk.choices, chunk.usage
    if type(choices) is not list or choices or usage is None or not hasattr(usage, "__pydantic_extra__"):
        return False
    plain = _plain(usage)
    if plain is None:
        return False
    prompt_details, completion_details = plain.get("prompt_tokens_details"), plain.get("completion_tokens_details")
    for details in (prompt_details, completion_details):
        if details is not None and not hasattr(details, "__pydantic_extra__"):
            return False
    fields = _usage_fields(plain, _plain(prompt_details), _plain(completion_details))
    return fields is not None and _merge_usage(fields, chunk.model, chunk.id, result)
