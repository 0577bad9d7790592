"""Anthropic shapes: a Messages ``message`` and the raw stream events of ``messages.create(stream=True)``.

Anthropic's ``input_tokens`` EXCLUDES cache reads and writes; semconv's input includes them, so the three are added.
Cache writes are split by lifetime in ``cache_creation`` (5 minutes, 1 hour: priced differently); server tools report
``server_tool_use.web_search_requests``. In the stream, ``message_delta`` usage is cumulative: a count it carries
replaces the one ``message_start`` gave (input included, e.g. after server tools ran).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otel_chatbot.spans._extraction import Extracted, count, get, text_of_str

__all__ = ["is_usage", "message", "stream_event", "usage"]


def is_usage(usage: Any, provider: str | None) -> bool:
    """Whether an ``input_tokens``/``output_tokens`` usage counts tokens the Anthropic way."""
    if provider == "anthropic":
        return True
    if isinstance(usage, Mapping):
        return "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage
    return hasattr(usage, "cache_read_input_tokens") or hasattr(usage, "cache_creation_input_tokens")


def usage(raw: Any, out: Extracted) -> None:
    """A ``usage`` object: semconv input = input + cache reads + cache writes."""
    inp = count(get(raw, "input_tokens"))
    read = count(get(raw, "cache_read_input_tokens"))
    write = count(get(raw, "cache_creation_input_tokens"))
    if inp is not None or read is not None or write is not None:
        out.input_tokens = (inp or 0) + (read or 0) + (write or 0)
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


def message(obj: Any, want_text: bool) -> Extracted | None:
    """A complete ``message``."""
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
    """One raw stream event."""
    if kind == "message_start":
        inner = get(obj, "message")
        return message(inner, want_text=False) if inner is not None else None
    if kind == "content_block_delta":
        delta = get(obj, "delta")
        delta_type = get(delta, "type")
        out = Extracted()
        if delta_type == "text_delta" or (delta_type is None and isinstance(get(delta, "text"), str)):
            text = get(delta, "text")
            if not isinstance(text, str):
                return None
            out.text = text
            out.generated = bool(text)
            return out
        if delta_type in ("thinking_delta", "input_json_delta", "citations_delta"):
            out.generated = True
            return out
        return None  # signature_delta and unknown deltas: not generated content
    if kind == "message_delta":
        return _message_delta(obj)
    return None


def _message_delta(obj: Any) -> Extracted | None:
    """``message_delta``: the stop reason and cumulative usage (each count replaces the earlier one)."""
    out = Extracted()
    raw = get(obj, "usage")
    if raw is not None:
        inp = count(get(raw, "input_tokens"))
        read = count(get(raw, "cache_read_input_tokens"))
        write = count(get(raw, "cache_creation_input_tokens"))
        if inp is not None:  # input reported again (e.g. after server tools): the new total, cache parts included
            out.input_tokens = inp + (read or 0) + (write or 0)
        if read is not None:
            out.cache_read_tokens = read
        if write is not None:
            out.cache_write_tokens = write
        out.output_tokens = count(get(raw, "output_tokens"))
        server_tools = get(raw, "server_tool_use")
        if server_tools is not None:
            out.detail("web_searches", get(server_tools, "web_search_requests"))
    reason = text_of_str(get(get(obj, "delta"), "stop_reason"))
    out.finish_reasons = [reason] if reason else []
    return out if out.has_usage or out.finish_reasons or out.details else None
