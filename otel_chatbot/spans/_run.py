"""One stage span from start to end: the only place that sets attributes, records errors and ends stage spans.

The four wrappers in ``decorators.py`` and the context-manager form all drive a ``SpanRun``; none of them touches
the span directly. Everything here that is telemetry work (extraction, pricing, content) runs under
``handle_internal_errors``: a bug in it is logged, never raised into the user's call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from otel_chatbot import _scopes, _sdk, _values, semconv
from otel_chatbot._internal_errors import handle_internal_errors, log_internal_error
from otel_chatbot._state import STATE
from otel_chatbot.spans import _content as content
from otel_chatbot.spans._extraction import (
    FIRST_CHUNK,
    FIRST_TEXT,
    Extracted,
    StreamAccumulator,
    estimate_tokens,
    extract,
)
from otel_chatbot.spend import _pricing as pricing

RUN_KEY = otel_context.create_key("otel_chatbot.stage_run")
_ENDED = otel_context.Context()
"""What an ended run's ``ctx`` becomes (nothing attaches it any more)."""
"""OTel context key under which the active ``SpanRun`` is stored (so ``record_usage`` finds its stage)."""

_CONTENT_STAGES = frozenset({"generation", "embeddings"})


def sanitize(value: Any) -> AttributeValue | None:
    """A value OTel accepts as an attribute: primitives and homogeneous primitive sequences; secrets scrubbed;
    strings valid UTF-8 and cut to the maximum attribute length; integers within int64 (else dropped, counted)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if _values.INT64_MIN <= value <= _values.INT64_MAX:
            return value
        shown = _values.shown_number(value)
        _values.warn_removed(f"an attribute integer ({shown}) is outside int64 (what OTLP holds)")
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items = [sanitize(v) for v in value]
        if all(isinstance(i, str) for i in items):
            return [i for i in items if isinstance(i, str)]
        if all(isinstance(i, bool) for i in items):
            return [bool(i) for i in items]
        if all(isinstance(i, int) and not isinstance(i, bool) for i in items):
            return [i for i in items if isinstance(i, int)]
        if any(i is None and v is not None for i, v in zip(items, value, strict=True)):
            return None  # an element was rejected (an integer outside int64, a NaN): the whole value is dropped
        if all(isinstance(i, int | float) and not isinstance(i, bool) for i in items):
            return [float(i) for i in items if isinstance(i, int | float)]
        return [str(i) for i in items]
    if value is None:
        return None
    try:
        text = str(value)
    except Exception:  # an object whose __str__ fails: not recorded, never raised into the caller
        return None
    return _text(text)


def _text(value: str) -> str:
    """A string as an attribute value: secrets scrubbed, then valid UTF-8 and cut to the maximum length."""
    return _values.clean_text(content.scrub_secrets(value), _values.max_attribute_length())


class UsageOverride:
    """Counts given by hand with ``record_usage``; they win over what the return value says."""

    __slots__ = ("estimated", "model", "provider", "usage")

    def __init__(self) -> None:
        self.usage = Extracted()
        self.model: str | None = None
        self.provider: str | None = None
        self.estimated = False


class SpanRun:
    """The state of one stage span between start and end."""

    __slots__ = (
        "_accumulator",
        "_ended",
        "_override",
        "_t0",
        "args",
        "ctx",
        "kwargs",
        "model_price",
        "provider",
        "recording",
        "request_model",
        "span",
        "stage",
        "stream",
    )

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        kind: SpanKind,
        attributes: dict[str, AttributeValue],
        parent: otel_context.Context | None,
        stage: str,
        request_model: str | None,
        provider: str | None,
        stream: bool,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        model_price: pricing.ModelPrice | None = None,
    ) -> None:
        # (Positional parameters: built on every decorated call, and a call with keywords costs about 0.5 us more.)
        if len(name) > (limit := _values.max_attribute_length()):
            name = name[:limit]
        self.span: Span = tracer.start_span(name, parent, kind, attributes)  # positional: see above
        self._t0 = time.perf_counter()
        self.ctx = _sdk.context_with_span(parent, self.span, RUN_KEY, self)
        self.recording = self.span.is_recording()
        self.stage = stage
        self.request_model = request_model
        self.model_price = model_price
        self.provider = provider
        self.stream = stream
        self.args = args
        self.kwargs = kwargs
        self._override: UsageOverride | None = None
        self._ended = False
        capture = self.recording and content.should_capture_content()
        keep = STATE.content.max_content_length if capture else 0
        self._accumulator: StreamAccumulator | None = StreamAccumulator(provider, keep) if stream else None
        if capture:
            with handle_internal_errors():
                self._capture_input()

    # --- during the call ----------------------------------------------------------------------------------------

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute (sanitised; secrets scrubbed)."""
        if self.recording:
            clean = sanitize(value)
            if clean is not None:
                # a key from the user's data: valid UTF-8 and bounded too (the SDK bounds values, never keys)
                if type(key) is not str or len(key) > _values.DEFAULT_MAX_ATTRIBUTE_LENGTH or not key.isascii():
                    key = _values.clean_text(str(key), _values.DEFAULT_MAX_ATTRIBUTE_LENGTH)
                self.span.set_attribute(key, clean)

    def override(self) -> UsageOverride:
        """The hand-given usage of this stage (created on first use)."""
        if self._override is None:
            self._override = UsageOverride()
        return self._override

    def on_chunk(self, chunk: Any) -> None:
        """A stream produced ``chunk``: note the first generated chunk and the first text, and any usage it carries.

        The times to first chunk and first token are kept on the accumulator and set with the stream's other
        attributes at the end (one ``set_attributes`` instead of one call each, mid-stream).
        """
        acc = self._accumulator
        if acc is None or not self.recording:
            return
        try:  # per chunk: a plain try is cheaper than the handle_internal_errors() context manager
            flags = acc.add(chunk)
            if flags:
                elapsed = time.perf_counter() - self._t0
                if flags & FIRST_CHUNK:
                    acc.first_chunk_s = elapsed
                if flags & FIRST_TEXT:
                    acc.first_text_s = elapsed
        except Exception:
            log_internal_error()

    def start_stream(self) -> None:
        """The call returned a stream object: from now on this run measures its chunks (``on_chunk``) until ``end``."""
        self.stream = True
        if self._accumulator is None and self.recording:
            keep = STATE.content.max_content_length if content.should_capture_content() else 0
            self._accumulator = StreamAccumulator(self.provider, keep)
            self.span.set_attribute(semconv.GEN_AI_REQUEST_STREAM, True)

    # --- the end ------------------------------------------------------------------------------------------------

    def succeed(self, result: Any) -> None:
        """The call returned ``result`` (non-stream): read usage, cost and, if asked, content from it."""
        if not self.recording:
            return
        try:  # inline rather than handle_internal_errors(): this is the hot path of every call
            capture = content.should_capture_content()
            if self._override is None and not capture:
                kind = type(result)
                body = result if kind is dict else _chat_completion_fields(result) if _is_openai_chat(kind) else None
                fast = _chat_completion_attributes(body, self.model_price) if body is not None else None
                if fast is not None:
                    _sdk.set_built_attributes(self.span, _without_usage(fast) if self._deferred() else fast)
                    return
            extracted = extract(result, self.provider, want_text=capture)
            self._apply(extracted, estimated=False)
            self._override = None  # applied (merged into the return value's usage): end() must not apply it again
            if capture:
                self._capture_output(result, extracted)
            if self.stage == "retrieval" and isinstance(result, list | tuple):
                self.span.set_attribute(semconv.CHATBOT_RETRIEVAL_DOCUMENTS, len(result))
        except Exception:
            log_internal_error()

    def fail(self, exc: BaseException) -> None:
        """The user's call raised ``exc`` (an ``Exception``): status ERROR, ``error.type``, an exception event."""
        if not self.recording:
            return
        with handle_internal_errors():
            # The message and stack trace are the user's (or a provider's): valid UTF-8 and bounded before they reach
            # the span (the SDK's SpanLimits bounds event attributes only, and never the status description).
            message = _text(str(exc))
            self.span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
            self.span.set_status(Status(StatusCode.ERROR, _text(f"{type(exc).__name__}: {message}")))
            import traceback

            stack = _text("".join(traceback.format_exception(exc)))
            self.span.add_event(
                "exception",
                {"exception.type": type(exc).__qualname__, "exception.message": message, "exception.stacktrace": stack},
            )

    def end(self) -> None:
        """End the span (once). Streams set what they accumulated, even when they ended early."""
        if self._ended:
            return
        self._ended = True
        if self.recording and (self._accumulator is not None or self._override is not None):
            with handle_internal_errors():
                if self._accumulator is not None:
                    self._finish_stream(self._accumulator)
                else:
                    self._apply(None, estimated=False)
        self.span.end()
        # The context holds the run (RUN_KEY) and the run its context: a reference cycle that only the garbage
        # collector would free, with the span, its lock and the call's arguments. Nothing attaches it after the end.
        self.ctx = _ENDED

    # --- internals ----------------------------------------------------------------------------------------------

    def _deferred(self) -> bool:
        """A span inside this stage (another instrumentation's inference span) already counted the call's usage."""
        return bool(_scopes.OPEN) and _scopes.inner_usage(self.span.get_span_context().span_id)

    def _finish_stream(self, acc: StreamAccumulator) -> None:
        timing: dict[str, AttributeValue] = {}
        if acc.first_chunk_s is not None:
            timing[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = acc.first_chunk_s
        if acc.first_text_s is not None:
            timing[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN] = acc.first_text_s
        if acc.chunks:
            timing[semconv.CHATBOT_RESPONSE_CHUNKS] = acc.chunks
        if timing:
            self.span.set_attributes(timing)
        result = acc.result
        estimated = False
        override = self._override
        if not result.has_usage and not (override is not None and override.usage.has_usage) and acc.chars:
            # The provider reported no usage (no include_usage, or the consumer stopped early): estimate, and say so.
            result.output_tokens = estimate_tokens(acc.chars)
            result.input_tokens = self._estimate_input_tokens()
            estimated = True
        self._apply(result, estimated=estimated)
        if acc.texts and self.stage in _CONTENT_STAGES:  # texts are kept only when content capture is on
            value = content.output_messages("".join(acc.texts), result.finish_reasons)
            if value is not None:
                self.span.set_attribute(semconv.GEN_AI_OUTPUT_MESSAGES, value)

    def _estimate_input_tokens(self) -> int | None:
        messages = self.kwargs.get("messages")
        if messages is None:
            messages = next((a for a in self.args if isinstance(a, list) and a and isinstance(a[0], Mapping)), None)
        if not isinstance(messages, list):
            return None
        chars = 0
        for message in messages:
            text = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", None)
            if isinstance(text, str):
                chars += len(text)
        return estimate_tokens(chars) if chars else None

    def _apply(self, extracted: Extracted | None, *, estimated: bool) -> None:
        span = self.span
        override = self._override
        usage = extracted if extracted is not None else Extracted()
        if override is not None:
            usage.merge(override.usage)
            estimated = override.estimated or (estimated and not override.usage.has_usage)
        attributes: dict[str, AttributeValue] = {}
        if usage.response_model:
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = usage.response_model
        if usage.response_id:
            attributes[semconv.GEN_AI_RESPONSE_ID] = usage.response_id
        if usage.finish_reasons:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(usage.finish_reasons)
        if usage.has_usage and self._deferred():
            # Counted once, on the innermost inference span: the stage keeps its latency, ids and finish reasons.
            attributes[semconv.CHATBOT_USAGE_DEFERRED] = True
        elif usage.has_usage:
            model = (override.model if override is not None else None) or self.request_model or usage.response_model
            provider = (override.provider if override is not None else None) or self.provider
            if override is not None and override.model and not self.request_model:
                attributes[semconv.GEN_AI_REQUEST_MODEL] = override.model
            known = self.model_price if model == self.request_model and provider == self.provider else None
            attributes.update(usage_attributes(usage, model, provider, estimated=estimated, price=known))
        if attributes:
            _sdk.set_clean_attributes(span, attributes)

    def _capture_input(self) -> None:
        if self.stage in _CONTENT_STAGES:
            value = content.input_messages(self.args, self.kwargs)
            if value is not None:
                self.span.set_attribute(semconv.GEN_AI_INPUT_MESSAGES, value)
        elif self.stage == "retrieval":
            query = content.query_text(self.args, self.kwargs)
            if query is not None:
                self.span.set_attribute(semconv.GEN_AI_RETRIEVAL_QUERY_TEXT, query)

    def _capture_output(self, result: Any, extracted: Extracted | None) -> None:
        if self.stage in _CONTENT_STAGES:
            text = extracted.text if extracted is not None else (result if isinstance(result, str) else None)
            value = content.output_messages(text, extracted.finish_reasons if extracted is not None else ())
            if value is not None:
                self.span.set_attribute(semconv.GEN_AI_OUTPUT_MESSAGES, value)
        elif self.stage == "retrieval":
            docs = content.retrieval_documents(result)
            if docs is not None:
                self.span.set_attribute(semconv.GEN_AI_RETRIEVAL_DOCUMENTS, docs)


def _detail(details: Any, key: str) -> int | None:
    """A count inside ``*_tokens_details``: 0 when absent, None when present but invalid or when the details hold any
    other non-zero count (audio, image, cache writes: the general path reads and prices those)."""
    if not details:
        return 0
    if type(details) is not dict:
        return None
    value = 0
    for name, number in details.items():
        if name == key:
            if number is not None:
                value = number
        elif number:
            return None
    return value if type(value) is int and value >= 0 else None


_INPUT = semconv.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
_CACHE_READ = semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
_REASONING = semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
_COST = semconv.GEN_AI_USAGE_COST_AMOUNT
_CURRENCY = semconv.GEN_AI_USAGE_COST_CURRENCY
_SOURCE = semconv.GEN_AI_USAGE_COST_SOURCE
_PRICE_VERSION = semconv.CHATBOT_COST_PRICE_VERSION
_RESPONSE_MODEL = semconv.GEN_AI_RESPONSE_MODEL
_RESPONSE_ID = semconv.GEN_AI_RESPONSE_ID
_FINISH_REASONS = semconv.GEN_AI_RESPONSE_FINISH_REASONS


def _chat_completion_attributes(
    body: dict[str, Any], price: pricing.ModelPrice | None
) -> dict[str, AttributeValue] | None:
    """Fast path for the commonest return value, an OpenAI Chat Completions JSON body; None for anything else.

    Same result as ``extract`` + ``usage_attributes`` (a test checks they agree), with a fraction of the work: it runs
    on every decorated call, right after the SDK started the span, when little of this code is in the CPU's caches
    (each step costs two to three times what it costs in a loop of its own).
    """
    usage = body.get("usage")
    if type(usage) is not dict or price is None or "type" in body or "cost" in usage:
        return None  # another shape, an unknown price or a provider-reported cost: the general path handles them
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if type(prompt) is not int or type(completion) is not int or prompt < 0 or completion < 0:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _detail(details, "cached_tokens") if details else 0
    details = usage.get("completion_tokens_details")
    reasoning = _detail(details, "reasoning_tokens") if details else 0
    if cached is None or reasoning is None:
        return None
    plain = price.plain_pico
    if plain is None:
        cost = pricing.cost_usd_float(pricing.TokenUsage(prompt, completion, cached, 0, reasoning), price)
    else:  # cost_usd_float's integer formula, inline (no cache writes here)
        read = cached if cached <= prompt else prompt
        cost = ((prompt - read) * plain[0] + read * plain[2] + completion * plain[1]) / 1e12
    attributes: dict[str, AttributeValue] = {
        _INPUT: prompt,
        _OUTPUT: completion,
        _COST: cost,
        _CURRENCY: "USD",
        _SOURCE: "local",
        _PRICE_VERSION: price.version,
    }
    if cached:
        attributes[_CACHE_READ] = cached
    if reasoning:
        attributes[_REASONING] = reasoning
    model, response_id, choices = body.get("model"), body.get("id"), body.get("choices")
    if type(model) is str and model:
        attributes[_RESPONSE_MODEL] = model
    if type(response_id) is str and response_id:
        attributes[_RESPONSE_ID] = response_id
    if type(choices) is list:
        reasons = tuple(r for c in choices if type(c) is dict and type(r := c.get("finish_reason")) is str and r)
        if reasons:
            attributes[_FINISH_REASONS] = reasons
    if STATE.content.legacy_dup:
        attributes[semconv.GEN_AI_USAGE_COST] = cost
    return attributes


_OPENAI_CHAT_CLASSES: dict[type, bool] = {}
"""Whether a return value's class is openai-python's ``ChatCompletion`` (known per class; a few classes at most)."""


def _is_openai_chat(cls: type) -> bool:
    known = _OPENAI_CHAT_CLASSES.get(cls)
    if known is None:
        known = cls.__qualname__ == "ChatCompletion" and cls.__module__ == "openai.types.chat.chat_completion"
        if len(_OPENAI_CHAT_CLASSES) < 64:
            _OPENAI_CHAT_CLASSES[cls] = known
    return known


def _chat_completion_fields(obj: Any) -> dict[str, Any] | None:
    """An openai-python ``ChatCompletion`` (pydantic) as the JSON body ``_chat_completion_attributes`` reads, or None
    when any level carries fields the SDK does not declare (a provider's ``cost``...): the general path reads those.

    Pydantic keeps declared fields in ``__dict__`` and undeclared ones in ``__pydantic_extra__``: reading the two
    dicts is a fraction of the attribute lookups (and failed ``getattr``) the general path does per field.
    """
    if obj.__pydantic_extra__:
        return None
    fields = obj.__dict__
    usage_obj = fields.get("usage")
    if usage_obj is None or usage_obj.__pydantic_extra__:
        return None
    usage = dict(usage_obj.__dict__)
    for name in ("prompt_tokens_details", "completion_tokens_details"):
        details = usage.get(name)
        if details is not None:
            if details.__pydantic_extra__:
                return None
            usage[name] = details.__dict__
    choices = fields.get("choices")
    return {
        "id": fields.get("id"),
        "model": fields.get("model"),
        "choices": [choice.__dict__ for choice in choices] if type(choices) is list else None,
        "usage": usage,
    }


def _without_usage(attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """``attributes`` without tokens and cost, flagged as deferred to the inference span inside the stage."""
    kept: dict[str, AttributeValue] = {
        key: value
        for key, value in attributes.items()
        if not key.startswith(("gen_ai.usage.", "chatbot.cost.", "chatbot.usage."))
    }
    kept[semconv.CHATBOT_USAGE_DEFERRED] = True
    return kept


def current_run() -> SpanRun | None:
    """The stage span run in force in the current context, if any."""
    run = otel_context.get_value(RUN_KEY)
    return run if isinstance(run, SpanRun) else None


_DETAIL_ATTRIBUTES: dict[str, str] = {
    "input_text_tokens": semconv.GEN_AI_USAGE_TEXT_INPUT_TOKENS,
    "input_image_tokens": semconv.GEN_AI_USAGE_IMAGE_INPUT_TOKENS,
    "input_audio_tokens": semconv.GEN_AI_USAGE_AUDIO_INPUT_TOKENS,
    "input_video_tokens": semconv.CHATBOT_USAGE_VIDEO_INPUT_TOKENS,
    "output_text_tokens": semconv.GEN_AI_USAGE_TEXT_OUTPUT_TOKENS,
    "output_image_tokens": semconv.GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS,
    "output_audio_tokens": semconv.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS,
    "output_video_tokens": semconv.CHATBOT_USAGE_VIDEO_OUTPUT_TOKENS,
    "cache_text_read_tokens": semconv.GEN_AI_USAGE_TEXT_CACHE_READ_INPUT_TOKENS,
    "cache_image_read_tokens": semconv.GEN_AI_USAGE_IMAGE_CACHE_READ_INPUT_TOKENS,
    "cache_audio_read_tokens": semconv.GEN_AI_USAGE_AUDIO_CACHE_READ_INPUT_TOKENS,
    "cache_write_5m_tokens": semconv.CHATBOT_USAGE_CACHE_WRITE_5M_INPUT_TOKENS,
    "cache_write_1h_tokens": semconv.CHATBOT_USAGE_CACHE_WRITE_1H_INPUT_TOKENS,
    "input_tool_tokens": semconv.CHATBOT_USAGE_TOOL_USE_INPUT_TOKENS,
    "web_searches": semconv.CHATBOT_USAGE_WEB_SEARCHES,
}
"""Span attribute of each billable unit in ``Extracted.details`` (genai-prices usage keys); others are priced only."""


def usage_attributes(
    usage: Extracted,
    model: str | None,
    provider: str | None,
    *,
    estimated: bool,
    price: pricing.ModelPrice | None = None,
) -> dict[str, AttributeValue]:
    """Token, cost and flag attributes for ``usage`` priced as ``model`` at ``provider``.

    The cost is the provider's when it reported one (``gen_ai.usage.cost.source = provider``; our own price, when
    known, goes to ``chatbot.cost.local_amount``), else ours (``local``, with the price data's version). ``price``:
    ``model``'s price when the caller already looked it up (a stage's own model); else the table is asked.
    """
    legacy = STATE.content.legacy_dup
    attributes: dict[str, AttributeValue] = {}
    for key, value in (
        (semconv.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
        (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
        (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_tokens),
        (semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, usage.cache_write_tokens),
        (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_tokens),
    ):
        if value is not None:
            attributes[key] = value
    if legacy and usage.cache_write_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write_tokens
    if usage.details:
        for unit, value in usage.details.items():
            name = _DETAIL_ATTRIBUTES.get(unit)
            if name is not None:
                attributes[name] = value
    if estimated:
        attributes[semconv.CHATBOT_USAGE_ESTIMATED] = True
    try:  # pricing fails on its own: the tokens, ids and finish reasons above are kept (and the cost flagged unknown)
        if price is None and model:
            price = pricing.default_table().lookup(model, provider)
        local = pricing.cost_usd_float(usage.token_usage(), price) if price is not None else None
    except Exception:
        log_internal_error()
        price = local = None
    if usage.provider_cost is not None:
        cost: float | None = usage.provider_cost
        attributes[semconv.GEN_AI_USAGE_COST_SOURCE] = "provider"
        if local is not None:
            attributes[semconv.CHATBOT_COST_LOCAL_AMOUNT] = local
    elif local is not None and price is not None:
        cost = local
        attributes[semconv.GEN_AI_USAGE_COST_SOURCE] = "local"
        attributes[semconv.CHATBOT_COST_PRICE_VERSION] = price.version
    else:
        cost = None
    if cost is None:
        attributes[semconv.CHATBOT_COST_UNKNOWN_MODEL] = True
        return attributes
    attributes[semconv.GEN_AI_USAGE_COST_AMOUNT] = cost
    attributes[semconv.GEN_AI_USAGE_COST_CURRENCY] = "USD"
    if legacy:
        attributes[semconv.GEN_AI_USAGE_COST] = cost
    return attributes
