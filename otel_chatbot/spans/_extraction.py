"""Token usage, response model, id and finish reasons read from what an LLM call returns or streams.

Shapes understood (as objects or as the plain dicts of their JSON): OpenAI Chat Completions (and its final
``include_usage`` stream chunk), OpenAI Responses (and its ``response.completed`` stream event), Anthropic Messages
(and its ``message_start`` / ``message_delta`` stream events), Google Gemini ``usage_metadata``, LangChain
``AIMessage.usage_metadata``. Anything else yields nothing; nothing here raises on odd input, and every count is
validated: a non-negative int or it is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from otel_chatbot.spend._pricing import TokenUsage

__all__ = ["Extracted", "StreamAccumulator", "extract", "get"]


def get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; None when absent."""
    if isinstance(obj, dict):  # the common case, and much cheaper than the Mapping ABC check
        return obj.get(key)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _count(value: Any) -> int | None:
    """A token count, or None: bools, negatives, NaN, non-integral floats and non-numbers are rejected."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        if math.isfinite(value) and value >= 0 and value.is_integer():
            return int(value)
    return None


class Extracted:
    """What one response (or stream) told us. Token fields are None when not reported."""

    __slots__ = (
        "cache_read_tokens",
        "cache_write_tokens",
        "finish_reasons",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "response_id",
        "response_model",
        "text",
    )

    def __init__(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        response_model: str | None = None,
        response_id: str | None = None,
        finish_reasons: list[str] | None = None,
        text: str | None = None,
    ) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_tokens = cache_read_tokens
        self.cache_write_tokens = cache_write_tokens
        self.reasoning_tokens = reasoning_tokens
        self.response_model = response_model
        self.response_id = response_id
        self.finish_reasons: list[str] = finish_reasons if finish_reasons is not None else []
        self.text = text

    @property
    def has_usage(self) -> bool:
        """Whether the provider reported any token count."""
        return self.input_tokens is not None or self.output_tokens is not None

    def token_usage(self) -> TokenUsage:
        """The counts as a :class:`TokenUsage` (missing counts are 0)."""
        return TokenUsage(
            input_tokens=self.input_tokens or 0,
            output_tokens=self.output_tokens or 0,
            cache_read_tokens=self.cache_read_tokens or 0,
            cache_write_tokens=self.cache_write_tokens or 0,
            reasoning_tokens=self.reasoning_tokens or 0,
        )

    def merge(self, other: Extracted) -> None:
        """Take every field ``other`` knows (later stream events win)."""
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "response_model",
            "response_id",
        ):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)
        if other.finish_reasons:
            self.finish_reasons = other.finish_reasons


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    name = getattr(value, "name", None)  # enums such as Gemini's FinishReason
    return name if isinstance(name, str) and name else None


def _usage_from(usage: Any, out: Extracted, provider: str | None) -> None:
    """Fill token counts from a provider ``usage`` object of any known shape, told apart by its keys."""
    if usage is None:
        return
    # OpenAI Chat Completions: prompt_tokens includes cached tokens already. Filled inline: it is the common shape,
    # read on every decorated call and stream chunk, and a function call would cost more than the four lines.
    prompt = _count(get(usage, "prompt_tokens"))
    completion = _count(get(usage, "completion_tokens"))
    if prompt is not None or completion is not None:
        out.input_tokens = prompt
        out.output_tokens = completion
        out.cache_read_tokens = _count(get(get(usage, "prompt_tokens_details"), "cached_tokens"))
        out.reasoning_tokens = _count(get(get(usage, "completion_tokens_details"), "reasoning_tokens"))
        return
    gem_prompt = _count(get(usage, "prompt_token_count"))
    candidates = _count(get(usage, "candidates_token_count"))
    if gem_prompt is not None or candidates is not None:
        _gemini_usage(usage, out, gem_prompt, candidates)
        return
    inp, outp = _count(get(usage, "input_tokens")), _count(get(usage, "output_tokens"))
    if inp is None and outp is None:
        return
    if _is_anthropic_usage(usage, provider):
        _anthropic_usage(usage, out, inp, outp)
    else:
        _responses_or_langchain_usage(usage, out, inp, outp)


def _gemini_usage(usage: Any, out: Extracted, prompt: int | None, candidates: int | None) -> None:
    """Gemini ``usage_metadata``: prompt_token_count includes cached content; thoughts are billed as output."""
    thoughts = _count(get(usage, "thoughts_token_count"))
    out.input_tokens = prompt
    out.output_tokens = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    out.cache_read_tokens = _count(get(usage, "cached_content_token_count"))
    out.reasoning_tokens = thoughts


def _is_anthropic_usage(usage: Any, provider: str | None) -> bool:
    """Whether an ``input_tokens``/``output_tokens`` usage counts tokens the Anthropic way."""
    # Anthropic's own usage has cache_*_input_tokens; LangChain's usage_metadata (whatever the provider) has
    # input_token_details and already counts cached tokens in input_tokens, so it must not take this branch.
    if get(usage, "input_token_details") is not None or get(usage, "output_token_details") is not None:
        return False
    if provider == "anthropic":
        return True
    return (
        (isinstance(usage, Mapping) and ("cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage))
        or hasattr(usage, "cache_read_input_tokens")
        or hasattr(usage, "cache_creation_input_tokens")
    )


def _anthropic_usage(usage: Any, out: Extracted, inp: int | None, outp: int | None) -> None:
    """Anthropic Messages: input_tokens EXCLUDES cache reads and writes; semconv input includes them."""
    read = _count(get(usage, "cache_read_input_tokens"))
    write = _count(get(usage, "cache_creation_input_tokens"))
    out.input_tokens = (
        None if inp is None and read is None and write is None else (inp or 0) + (read or 0) + (write or 0)
    )
    out.output_tokens = outp
    out.cache_read_tokens = read
    out.cache_write_tokens = write


def _responses_or_langchain_usage(usage: Any, out: Extracted, inp: int | None, outp: int | None) -> None:
    """OpenAI Responses (input/output_tokens_details) and LangChain ``usage_metadata`` (input/output_token_details);
    both count cached tokens in input_tokens."""
    out.input_tokens, out.output_tokens = inp, outp
    out.cache_read_tokens = _count(get(get(usage, "input_tokens_details"), "cached_tokens"))
    out.reasoning_tokens = _count(get(get(usage, "output_tokens_details"), "reasoning_tokens"))
    lc_in, lc_out = get(usage, "input_token_details"), get(usage, "output_token_details")
    if lc_in is not None:
        out.cache_read_tokens = _count(get(lc_in, "cache_read"))
        out.cache_write_tokens = _count(get(lc_in, "cache_creation"))
    if lc_out is not None:
        out.reasoning_tokens = _count(get(lc_out, "reasoning"))


def _choices_text_and_reasons(choices: Any, out: Extracted, *, delta: bool, want_text: bool) -> None:
    if not isinstance(choices, list | tuple):
        if not isinstance(choices, Sequence) or isinstance(choices, str | bytes):
            return
    texts: list[str] = []
    reasons: list[str] = []
    for choice in choices:
        if want_text or delta:
            # A stream chunk carries "delta", a full response "message"; don't rely on "object" being present.
            message = get(choice, "delta")
            content = get(message if message is not None else get(choice, "message"), "content")
            if isinstance(content, str):
                texts.append(content)
        reason = _str(get(choice, "finish_reason"))
        if reason:
            reasons.append(reason)
    if texts:
        out.text = "".join(texts)
    if reasons:
        out.finish_reasons = reasons


_KNOWN_KEYS = frozenset(
    {
        "type",
        "usage",
        "usage_metadata",
        "model",
        "model_version",
        "response_metadata",
        "id",
        "response_id",
        "choices",
        "stop_reason",
        "candidates",
        "content",
        "output_text",
        "text",
        "status",
        "message",
        "delta",
    }
)


def extract(obj: Any, provider: str | None = None, *, want_text: bool = True) -> Extracted | None:
    """Read usage and response metadata from a complete response (or one stream event). None if nothing known.

    ``want_text=False`` skips collecting the generated text (only needed for streams and content capture).
    """
    if obj is None or isinstance(obj, str | bytes | int | float | bool):
        return None
    if type(obj) is dict and obj.keys().isdisjoint(_KNOWN_KEYS):  # e.g. an app's own result dict: nothing to read
        return None
    kind = get(obj, "type")
    if isinstance(kind, str):  # a stream event (or a typed response, such as Anthropic's "message")
        # Events that wrap the response: Anthropic message_start, OpenAI Responses response.completed.
        if kind == "message_start":
            inner = get(obj, "message")
            return extract(inner, "anthropic", want_text=want_text) if inner is not None else None
        if kind.startswith("response.") and get(obj, "response") is not None:
            return extract(get(obj, "response"), provider, want_text=want_text)
        # Events that carry a part of it.
        if kind == "message_delta":
            return _from_message_delta(obj)
        if kind == "content_block_delta":  # Anthropic text
            text = get(get(obj, "delta"), "text")
            return _text_delta(text) if isinstance(text, str) else None
        if kind.endswith("output_text.delta"):  # OpenAI Responses text
            text = get(obj, "delta")
            return _text_delta(text) if isinstance(text, str) else None

    out = Extracted()
    usage = get(obj, "usage")
    if usage is None:
        usage = get(obj, "usage_metadata")  # Gemini and LangChain
    _usage_from(usage, out, provider)

    model = _str(get(obj, "model")) or _str(get(obj, "model_version"))
    metadata = None if model is not None and out.has_usage else get(obj, "response_metadata")  # LangChain
    if model is None and metadata is not None:
        model = _str(get(metadata, "model_name")) or _str(get(metadata, "model"))
    out.response_model = model
    out.response_id = _str(get(obj, "id")) or _str(get(obj, "response_id"))

    obj_type = _str(get(obj, "object"))
    _choices_text_and_reasons(get(obj, "choices"), out, delta=obj_type == "chat.completion.chunk", want_text=want_text)
    if not out.finish_reasons:
        _finish_reasons_without_choices(obj, out, metadata, obj_type)
    if out.text is None and want_text:
        out.text = _text_of(obj)
    if not (out.has_usage or out.response_model or out.response_id or out.finish_reasons or out.text):
        return None
    return out


def _text_delta(text: str) -> Extracted:
    out = Extracted()  # then .text: cheaper than Extracted(text=...) on this per-chunk path
    out.text = text
    return out


def _from_message_delta(obj: Any) -> Extracted | None:
    """Anthropic's ``message_delta`` stream event: output tokens and the stop reason arrive last."""
    out = Extracted()
    _usage_from(get(obj, "usage"), out, "anthropic")
    out.input_tokens = None  # message_delta's input_tokens (if any) repeats message_start's uncached count
    reason = _str(get(get(obj, "delta"), "stop_reason"))
    out.finish_reasons = [reason] if reason else []
    return out if out.has_usage or out.finish_reasons else None


def _finish_reasons_without_choices(obj: Any, out: Extracted, metadata: Any, obj_type: str | None) -> None:
    """Finish reasons of the shapes that have no ``choices``: Anthropic, LangChain, Gemini, OpenAI Responses."""
    stop = _str(get(obj, "stop_reason"))  # Anthropic
    if stop:
        out.finish_reasons = [stop]
    elif metadata is not None and (reason := _str(get(metadata, "finish_reason"))):
        out.finish_reasons = [reason]
    elif isinstance(candidates := get(obj, "candidates"), Sequence) and not isinstance(candidates, str):
        out.finish_reasons = [r for c in candidates if (r := _str(get(c, "finish_reason")))]
    elif obj_type == "response" and (status := _str(get(obj, "status"))):
        out.finish_reasons = [status]


def _text_of(obj: Any) -> str | None:
    """Generated text of a response or chunk, for stream TTFT detection, estimation and (opt-in) capture."""
    content = get(obj, "content")
    if isinstance(content, str):  # LangChain messages
        return content
    if isinstance(content, Sequence) and not isinstance(content, str | bytes):  # Anthropic content blocks
        texts = [t for block in content if isinstance(t := get(block, "text"), str)]
        return "".join(texts) if texts else None
    output_text = get(obj, "output_text")  # OpenAI Responses convenience property
    if isinstance(output_text, str):
        return output_text
    text = get(obj, "text")
    if isinstance(text, str):
        return text
    candidates = get(obj, "candidates")  # Gemini
    if isinstance(candidates, Sequence) and not isinstance(candidates, str | bytes):
        parts = [get(p, "text") for c in candidates for p in (get(get(c, "content"), "parts") or ())]
        texts = [t for t in parts if isinstance(t, str)]
        return "".join(texts) if texts else None
    return None


def estimate_tokens(text_length: int) -> int:
    """A rough token count for text of this many characters (~4 characters per token for English)."""
    return max(1, math.ceil(text_length / 4)) if text_length > 0 else 0


class StreamAccumulator:
    """Follows a stream chunk by chunk: when content first arrives, the final usage, and how much text came."""

    __slots__ = ("_keep", "_provider", "chars", "first_content", "result", "texts")

    def __init__(self, provider: str | None, keep_text: int = 0) -> None:
        self._provider = provider
        self._keep = keep_text  # characters of text to retain (content capture); 0 keeps none
        self.result = Extracted()
        self.chars = 0
        self.first_content = False
        self.texts: list[str] = []

    def add(self, chunk: Any) -> bool:
        """Account for one chunk; True when it is the first chunk that carries content."""
        if isinstance(chunk, str | bytes):
            text: str | None = chunk if isinstance(chunk, str) else chunk.decode("utf-8", "replace")
        else:
            extracted = extract(chunk, self._provider)
            if extracted is None:
                return False
            self.result.merge(extracted)
            text = extracted.text
        if not text:  # a role-only or empty chunk is not the first token
            return False
        if self.chars < self._keep:
            self.texts.append(text)
        self.chars += len(text)
        if self.first_content:
            return False
        self.first_content = True
        return True
