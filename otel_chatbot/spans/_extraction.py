"""Token usage, response model, id and finish reasons read from what an LLM call returns or streams.

This module holds the common pieces (``Extracted``, the dispatcher ``extract``, ``StreamAccumulator``); each provider's
shapes are read by its own module: ``_openai`` (Chat Completions and their chunks, Responses and their stream events,
embeddings), ``_anthropic`` (Messages and their stream events), ``_gemini`` (``generate_content`` responses and
chunks), ``_langchain`` (``AIMessage`` / ``AIMessageChunk``). Objects and the plain dicts of their JSON are both read.
Anything else yields nothing; nothing here raises on odd input, and every count is validated: a non-negative int or
it is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from otel_chatbot.spend._pricing import TokenUsage

__all__ = ["Extracted", "StreamAccumulator", "count", "extract", "get", "text_of_str"]


def get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; None when absent."""
    if isinstance(obj, dict):  # the common case, and much cheaper than the Mapping ABC check
        return obj.get(key)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def count(value: Any) -> int | None:
    """A token count, or None: bools, negatives, NaN, non-integral floats, counts beyond int64 (what OTLP and the
    ledger hold) and non-numbers are rejected."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _INT64_MAX else None
    if isinstance(value, float):
        if math.isfinite(value) and 0 <= value <= _INT64_MAX and value.is_integer():
            return int(value)
    return None


_INT64_MAX = 2**63 - 1


def text_of_str(value: Any) -> str | None:
    """A non-empty string, or the ``name`` of an enum (such as Gemini's ``FinishReason``); else None."""
    if isinstance(value, str) and value:
        return value
    name = getattr(value, "name", None)
    return name if isinstance(name, str) and name else None


class Extracted:
    """What one response (or stream event) told us. Token fields are None when not reported.

    ``generated`` is True for a stream chunk that carries generated content of any kind (text, reasoning or a
    tool-call delta): the chunk that sets the time to first chunk. ``text`` is the visible text it carries (the time
    to first token). ``details`` holds any other billable unit by genai-prices' usage key (``input_audio_tokens``,
    ``cache_write_1h_tokens``, ``web_searches``...). ``provider_cost`` is the USD cost the provider itself reported.
    Counts of a later stream event replace earlier ones (``merge``), except that ``increment`` marks usage that adds
    to what earlier stream events said (a LangChain ``AIMessageChunk``, whose usage LangChain itself sums).
    ``uncached_input_tokens`` is set by providers whose input count excludes the cache (Anthropic): merging recomputes
    ``input_tokens`` from it and the cache counts, so an event that reports only some of them keeps the others.
    ``echo`` marks a stream helper's copy of the raw chunk just before it (Anthropic's ``TextEvent`` after its
    ``content_block_delta``): it counts only when that raw chunk was not seen.
    ``choice_reasons`` is set by stream chunks only (each carries the finish reason of one choice index): ``merge``
    keeps one reason per index, so ``finish_reasons`` ends as every choice's reason ordered by index.
    """

    __slots__ = (
        "cache_read_tokens",
        "cache_write_tokens",
        "choice_reasons",
        "details",
        "echo",
        "finish_reasons",
        "generated",
        "increment",
        "input_tokens",
        "output_tokens",
        "provider_cost",
        "reasoning_tokens",
        "response_id",
        "response_model",
        "text",
        "uncached_input_tokens",
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
        details: dict[str, int] | None = None,
        provider_cost: float | None = None,
        generated: bool = False,
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
        self.details = details
        self.provider_cost = provider_cost
        self.generated = generated
        self.increment = False
        self.uncached_input_tokens: int | None = None
        self.echo = False
        self.choice_reasons: dict[int, str] | None = None

    @property
    def has_usage(self) -> bool:
        """Whether the provider reported any token count."""
        return self.input_tokens is not None or self.output_tokens is not None

    def detail(self, key: str, value: Any) -> None:
        """Record one more billable unit (ignored unless a valid count above zero: SDK objects report zeros for units
        a call did not use, which would otherwise become attributes their JSON form does not give)."""
        number = count(value)
        if not number:
            return
        if self.details is None:
            self.details = {}
        self.details[key] = number

    def token_usage(self) -> TokenUsage:
        """The counts as a :class:`TokenUsage` (missing counts are 0)."""
        return TokenUsage(
            input_tokens=self.input_tokens or 0,
            output_tokens=self.output_tokens or 0,
            cache_read_tokens=self.cache_read_tokens or 0,
            cache_write_tokens=self.cache_write_tokens or 0,
            reasoning_tokens=self.reasoning_tokens or 0,
            details=self.details or None,
        )

    def merge(self, other: Extracted) -> None:
        """Take every field ``other`` knows (later stream events win); details are merged key by key.

        When ``other.increment``, its counts (and details) are added to ours instead.
        """
        if other.increment:
            self._add_counts(other)
            names: tuple[str, ...] = ("response_model", "response_id", "provider_cost")
        else:
            names = _MERGED
        for name in names:
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)
        if other.details and not other.increment:
            self.details = {**self.details, **other.details} if self.details else dict(other.details)
        if other.choice_reasons:
            reasons = self.choice_reasons
            self.choice_reasons = reasons = {**reasons, **other.choice_reasons} if reasons else other.choice_reasons
            self.finish_reasons = [reasons[i] for i in sorted(reasons)] if len(reasons) > 1 else list(reasons.values())
        elif other.finish_reasons:
            self.finish_reasons = other.finish_reasons
        if other.uncached_input_tokens is not None:
            self.uncached_input_tokens = other.uncached_input_tokens
        elif other.input_tokens is not None:
            self.uncached_input_tokens = None  # a total given as such wins
        uncached = self.uncached_input_tokens
        if uncached is not None and (
            other.uncached_input_tokens is not None
            or other.cache_read_tokens is not None
            or other.cache_write_tokens is not None
        ):
            self.input_tokens = uncached + (self.cache_read_tokens or 0) + (self.cache_write_tokens or 0)

    def _add_counts(self, other: Extracted) -> None:
        for name in _COUNTS:
            value = getattr(other, name)
            if value is not None:
                mine = getattr(self, name)
                setattr(self, name, value if mine is None else mine + value)
        if other.details:
            details = dict(self.details) if self.details else {}
            for key, value in other.details.items():
                details[key] = details.get(key, 0) + value
            self.details = details


_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_MERGED = (*_COUNTS, "response_model", "response_id", "provider_cost")


_KNOWN_KEYS = frozenset(
    {
        "type",
        "usage",
        "usage_metadata",
        "usageMetadata",
        "model",
        "model_version",
        "modelVersion",
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
        "object",
        "data",
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
    if isinstance(kind, str):  # a stream event, or a typed response such as Anthropic's "message"
        if kind.startswith("response."):
            return _openai.responses_event(obj, kind, provider, want_text)
        if kind in _openai.HELPER_EVENT_TYPES:
            return _openai.helper_event(obj, kind, provider, want_text)
        if kind != "message" and (kind.startswith(("message_", "content_block_")) or kind in ("ping", "error")):
            return _anthropic.stream_event(obj, kind, want_text)
        if kind == "message" and get(obj, "role") is not None:
            return _anthropic.message(obj, want_text)
        if kind in _anthropic.HELPER_EVENT_TYPES and get(obj, "snapshot") is not None:
            return _anthropic.helper_event(obj, kind, want_text)
    if get(obj, "choices") is not None or _str_or_none(get(obj, "object")) in _openai.OBJECT_TYPES:
        return _openai.chat_or_other(obj, provider, want_text)
    if get(obj, "candidates") is not None or get(obj, "model_version") is not None or get(obj, "modelVersion"):
        return _gemini.response(obj, want_text)
    if get(obj, "response_metadata") is not None or _langchain.is_usage_metadata(get(obj, "usage_metadata")):
        return _langchain.message(obj, provider, want_text)
    if get(obj, "usage_metadata") is not None or get(obj, "usageMetadata") is not None:
        return _gemini.response(obj, want_text)
    if get(obj, "usage") is not None:
        return _openai.chat_or_other(obj, provider, want_text)
    return _generic(obj, want_text)


def usage_from(usage: Any, out: Extracted, provider: str | None) -> None:
    """Fill token counts from a provider ``usage`` object of any known shape, told apart by its keys."""
    if usage is None:
        return
    if get(usage, "prompt_tokens") is not None or get(usage, "completion_tokens") is not None:
        _openai.chat_usage(usage, out)
    elif get(usage, "prompt_token_count") is not None or get(usage, "candidates_token_count") is not None:
        _gemini.usage(usage, out)
    elif _langchain.is_usage_metadata(usage):
        _langchain.usage(usage, out)
    elif _anthropic.is_usage(usage, provider):
        _anthropic.usage(usage, out)
    else:
        _openai.responses_usage(usage, out)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _generic(obj: Any, want_text: bool) -> Extracted | None:
    """A shape we do not know by its keys: model, id and text only (a plain dict from the app, say)."""
    out = Extracted()
    out.response_model = text_of_str(get(obj, "model"))
    out.response_id = text_of_str(get(obj, "id"))
    if want_text:
        text = get(obj, "text")
        if not isinstance(text, str):
            text = get(obj, "content")
        out.text = text if isinstance(text, str) else None
    if not (out.response_model or out.response_id or out.text):
        return None
    return out


def estimate_tokens(text_length: int) -> int:
    """A rough token count for text of this many characters (~4 characters per token for English)."""
    return max(1, math.ceil(text_length / 4)) if text_length > 0 else 0


FIRST_CHUNK = 1
"""``StreamAccumulator.add`` flag: this chunk is the first generated chunk (text, reasoning or tool call)."""
FIRST_TEXT = 2
"""``StreamAccumulator.add`` flag: this chunk carries the first visible text."""


class StreamAccumulator:
    """Follows a stream chunk by chunk: the first generated chunk, the first text, the final usage, the text size."""

    __slots__ = (
        "_keep",
        "_provider",
        "_raw_generated",
        "chars",
        "chunks",
        "first_chunk",
        "first_chunk_s",
        "first_content",
        "first_text_s",
        "result",
        "texts",
    )

    def __init__(self, provider: str | None, keep_text: int = 0) -> None:
        self._provider = provider
        self._keep = keep_text  # characters of text to retain (content capture); 0 keeps none
        self.result = Extracted()
        self.chars = 0
        self.chunks = 0  # chunks with generated content
        self.first_chunk = False
        self.first_content = False
        self.first_chunk_s: float | None = None  # seconds from the span's start, set by the run (``on_chunk``)
        self.first_text_s: float | None = None
        self.texts: list[str] = []
        self._raw_generated = False  # the previous chunk was generated content that a helper event may echo

    def add(self, chunk: Any) -> int:
        """Account for one chunk; returns ``FIRST_CHUNK`` and/or ``FIRST_TEXT`` when it is the first of its kind."""
        cls = type(chunk)
        if cls is dict:
            if "choices" in chunk:
                text = _openai.chunk_text(chunk, self.result)
                if text is None and _openai.usage_chunk(chunk, self.result):
                    text = ""
            else:
                text = _anthropic.delta_text(chunk)
        elif cls is str:
            text = chunk or None
        else:
            reader = _SDK_READERS.get(cls, _UNKNOWN)
            if reader is _UNKNOWN:
                reader = _reader_for(cls)
            text = reader(chunk, self.result) if reader is not None else None
        if text is None:
            return self._add(chunk)
        if not text:  # a usage chunk, merged by the reader: nothing generated
            self._raw_generated = False
            return 0
        # The fast path: a plain text delta (its model and id already merged), the commonest chunk of a stream.
        self._raw_generated = cls is not str  # as ``_add``: a string is never echoed
        self.chunks += 1
        if self._keep and self.chars < self._keep:
            self.texts.append(text)
        self.chars += len(text)
        if self.first_content:  # implies first_chunk: a chunk with text is a generated chunk
            return 0
        self.first_content = True
        if self.first_chunk:
            return FIRST_TEXT
        self.first_chunk = True
        return FIRST_CHUNK | FIRST_TEXT

    def _add(self, chunk: Any) -> int:
        """``add`` for any chunk: through ``extract``."""
        echoed, self._raw_generated = self._raw_generated, False
        if isinstance(chunk, str | bytes):
            text: str | None = chunk if isinstance(chunk, str) else chunk.decode("utf-8", "replace")
            generated = bool(text)
        else:
            extracted = extract(chunk, self._provider)
            if extracted is None or (extracted.echo and echoed):  # nothing, or the copy of a chunk already counted
                return 0
            self.result.merge(extracted)
            text = extracted.text
            generated = extracted.generated or bool(text)
            self._raw_generated = generated and not extracted.echo
        flags = 0
        if generated:
            self.chunks += 1
            if not self.first_chunk:
                self.first_chunk = True
                flags = FIRST_CHUNK
        if not text:  # a role-only, reasoning, tool-call or empty chunk is not the first token
            return flags
        if self.chars < self._keep:
            self.texts.append(text)
        self.chars += len(text)
        if self.first_content:
            return flags
        self.first_content = True
        return flags | FIRST_TEXT


_TextReader = Callable[[Any, Extracted], str | None]
_SDK_READERS: dict[type, _TextReader | None] = {}
"""Per SDK chunk class, the fast path of ``StreamAccumulator.add`` (the text of a plain text delta, else None), or
None for a class without one."""
_UNKNOWN: Any = object()
_MAX_READERS = 256


def _reader_for(cls: type) -> _TextReader | None:
    """The fast-path reader of a chunk class (an openai or anthropic SDK class), found once per class."""
    reader: _TextReader | None = None
    try:
        top = cls.__module__.partition(".")[0]
        if top == "openai":
            reader = _openai.sdk_chunk_reader(cls)
        elif top == "anthropic":
            reader = _anthropic.sdk_delta_reader(cls)
    except Exception:
        reader = None
    if len(_SDK_READERS) < _MAX_READERS:
        _SDK_READERS[cls] = reader
    return reader


# The provider modules import the common pieces above, so they are imported last.
from otel_chatbot.spans import _anthropic, _gemini, _langchain, _openai  # noqa: E402
