"""Anthropic shapes: a Messages ``message``, the raw stream events, and the ``messages.stream()`` helper's events.

Anthropic's ``input_tokens`` EXCLUDES cache reads and writes; semconv's input includes them, so the three are added.
Cache writes are split by lifetime in ``cache_creation`` (5 minutes, 1 hour: priced differently) and go to the
details as ``cache_write_5m_tokens`` / ``cache_write_1h_tokens``; server tools report
``server_tool_use.web_search_requests`` (``web_searches``); ``output_tokens_details.thinking_tokens`` are the
reasoning part of the output.

In a raw stream, ``message_start`` carries the input counts and ``message_delta`` CUMULATIVE usage: each count it
carries replaces the earlier one, input included (it grows when server tools ran), and a count it omits keeps its
``message_start`` value (``Extracted.uncached_input_tokens`` makes the merge recompute the semconv input). The time
to first chunk is the first generated delta (text, thinking, tool input, citation; not a signature, a block start or
a ping), the time to first token the first text delta.

The ``messages.stream()`` helper yields the raw events plus derived ones: ``TextEvent`` / ``ThinkingEvent`` /
``InputJsonEvent`` / ``CitationEvent`` right after the raw delta they repeat (marked ``echo``, so the accumulator
counts them only when the raw delta was not yielded), and a ``MessageStopEvent`` whose ``message`` is the
accumulated message: its usage replaces what the raw events said, with the same totals, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otel_chatbot.spans._extraction import Extracted, count, get, text_of_str

__all__ = ["HELPER_EVENT_TYPES", "helper_event", "is_usage", "message", "stream_event", "usage"]

HELPER_EVENT_TYPES = frozenset({"text", "thinking", "input_json", "citation"})
"""``type`` of the ``messages.stream()`` helper's derived delta events (they carry a ``snapshot``)."""

_GENERATED_DELTAS = frozenset({"thinking_delta", "input_json_delta", "citations_delta"})


def is_usage(usage: Any, provider: str | None) -> bool:
    """Whether an ``input_tokens``/``output_tokens`` usage counts tokens the Anthropic way."""
    if provider == "anthropic":
        return True
    if isinstance(usage, Mapping):
        return "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage
    return hasattr(usage, "cache_read_input_tokens") or hasattr(usage, "cache_creation_input_tokens")


def usage(raw: Any, out: Extracted) -> None:
    """A ``usage`` object (of a message, or of a ``message_delta``): semconv input = input + cache reads + writes.

    Counts absent from ``raw`` stay None (in a ``message_delta`` they keep their earlier value when merged).
    """
    inp = count(get(raw, "input_tokens"))
    read = count(get(raw, "cache_read_input_tokens"))
    write = count(get(raw, "cache_creation_input_tokens"))
    if inp is not None:
        out.uncached_input_tokens = inp
        out.input_tokens = inp + (read or 0) + (write or 0)
    out.output_tokens = count(get(raw, "output_tokens"))
    out.cache_read_tokens = read
    out.cache_write_tokens = write
    creation = get(raw, "cache_creation")
    if creation is not None:
        out.detail("cache_write_5m_tokens", get(creation, "ephemeral_5m_input_tokens"))
        out.detail("cache_write_1h_tokens", get(creation, "ephemeral_1h_input_tokens"))
    server_tools = get(raw, "server_tool_use")
    if server_tools is not None:
        out.detail("web_searches", get(server_tools, "web_search_requests"))
    details = get(raw, "output_tokens_details")
    if details is not None:
        out.reasoning_tokens = count(get(details, "thinking_tokens"))


def message(obj: Any, want_text: bool) -> Extracted | None:
    """A complete ``message`` (also the accumulated one of the stream helper)."""
    out = Extracted()
    raw = get(obj, "usage")
    if raw is not None:
        usage(raw, out)
    out.response_model = text_of_str(get(obj, "model"))
    out.response_id = text_of_str(get(obj, "id"))
    stop = text_of_str(get(obj, "stop_reason"))
    if stop:
        out.finish_reasons = [stop]
    if want_text:
        content = get(obj, "content")
        if isinstance(content, Sequence) and not isinstance(content, str | bytes):
            texts = [t for b in content if get(b, "type") in ("text", None) and isinstance(t := get(b, "text"), str)]
            out.text = "".join(texts) if texts else None
    return out


def stream_event(obj: Any, kind: str, want_text: bool) -> Extracted | None:
    """One raw stream event (or the helper's ``MessageStopEvent`` with its accumulated ``message``)."""
    if kind in ("message_start", "message_stop"):
        inner = get(obj, "message")
        return message(inner, want_text=False) if inner is not None else None
    if kind == "content_block_delta":
        delta = get(obj, "delta")
        delta_type = get(delta, "type")
        if delta_type == "text_delta" or (delta_type is None and isinstance(get(delta, "text"), str)):
            text = get(delta, "text")
            if not isinstance(text, str):
                return None
            return Extracted(text=text, generated=bool(text))
        if delta_type in _GENERATED_DELTAS:
            return Extracted(generated=True)
        return None  # signature_delta and unknown deltas: not generated content
    if kind == "message_delta":
        return _message_delta(obj)
    return None


def helper_event(obj: Any, kind: str, want_text: bool) -> Extracted | None:
    """A derived delta event of the ``messages.stream()`` helper: the echo of the raw delta before it."""
    if kind == "text":
        text = get(obj, "text")
        if not isinstance(text, str):
            return None
        out = Extracted(text=text, generated=bool(text))
    else:
        out = Extracted(generated=True)
    out.echo = True
    return out


def _message_delta(obj: Any) -> Extracted | None:
    """``message_delta``: the stop reason and cumulative usage (each count replaces the earlier one)."""
    out = Extracted()
    raw = get(obj, "usage")
    if raw is not None:
        usage(raw, out)
    reason = text_of_str(get(get(obj, "delta"), "stop_reason"))
    out.finish_reasons = [reason] if reason else []
    return out if out.has_usage or out.finish_reasons or out.details else None


# --- stream chunks: the fast path ----------------------------------------------------------------------------------
# A raw ``content_block_delta`` event with a text delta, read directly (no usage, id or reason to merge); any other
# event returns None and takes the general path (``stream_event``), which a test checks gives the same result.


def delta_text(event: dict[str, Any]) -> str | None:
    """The text of a raw ``content_block_delta`` event dict with a non-empty ``text_delta``; else None."""
    if event.get("type") != "content_block_delta":
        return None
    delta = event.get("delta")
    if type(delta) is not dict or delta.get("type") != "text_delta":
        return None
    text = delta.get("text")
    return text if type(text) is str and text else None


def sdk_delta_reader(cls: type) -> Any:
    """``delta_text`` for the anthropic SDK's ``RawContentBlockDeltaEvent`` class, or None."""
    if cls.__name__ != "RawContentBlockDeltaEvent":
        return None

    def sdk_delta_text(event: Any, result: Extracted) -> str | None:
        if event.type != "content_block_delta":
            return None
        delta = event.delta
        if type(delta).__name__ != "TextDelta" or delta.type != "text_delta":
            return None
        text = delta.text
        return text if type(text) is str and text else None

    return sdk_delta_text
