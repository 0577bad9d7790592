"""LangChain shapes: ``AIMessage`` / ``AIMessageChunk`` with ``usage_metadata`` and ``response_metadata``.

``usage_metadata`` counts the semconv way (input includes cache reads and writes; output includes reasoning). The
provider's own response id is in ``response_metadata["id"]`` (OpenAI); the message's ``id`` is LangChain's run id
(``run-...`` / ``lc_run--...``) and is used only when the provider's is absent and it is not a run id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_chatbot.spans._extraction import Extracted, count, get, text_of_str

__all__ = ["is_usage_metadata", "message", "usage"]


def is_usage_metadata(raw: Any) -> bool:
    """Whether ``raw`` is a LangChain ``UsageMetadata``: a dict with ``input_tokens`` and ``total_tokens`` (OpenAI
    Responses usage has those too, with ``input_tokens_details``; LangChain's details are ``input_token_details``)."""
    return (
        isinstance(raw, Mapping)
        and "input_tokens" in raw
        and "total_tokens" in raw
        and "input_tokens_details" not in raw
        and "output_tokens_details" not in raw
    )


def usage(raw: Any, out: Extracted) -> None:
    """``usage_metadata``."""
    out.input_tokens = count(get(raw, "input_tokens"))
    out.output_tokens = count(get(raw, "output_tokens"))
    details_in, details_out = get(raw, "input_token_details"), get(raw, "output_token_details")
    if details_in is not None:
        out.cache_read_tokens = count(get(details_in, "cache_read"))
        out.cache_write_tokens = count(get(details_in, "cache_creation"))
        out.detail("input_audio_tokens", get(details_in, "audio"))
    if details_out is not None:
        out.reasoning_tokens = count(get(details_out, "reasoning"))
        out.detail("output_audio_tokens", get(details_out, "audio"))


def message(obj: Any, provider: str | None, want_text: bool) -> Extracted | None:
    """An ``AIMessage`` or ``AIMessageChunk`` (or its dict)."""
    out = Extracted()
    raw = get(obj, "usage_metadata")
    if raw is not None:
        usage(raw, out)
    metadata = get(obj, "response_metadata")
    if metadata is not None:
        out.response_model = text_of_str(get(metadata, "model_name")) or text_of_str(get(metadata, "model"))
        out.response_id = text_of_str(get(metadata, "id"))
        reason = text_of_str(get(metadata, "finish_reason")) or text_of_str(get(metadata, "stop_reason"))
        if reason:
            out.finish_reasons = [reason]
    if out.response_id is None:
        own = text_of_str(get(obj, "id"))
        if own is not None and not own.startswith(("run-", "lc_run-")):
            out.response_id = own
    content = get(obj, "content")
    if isinstance(content, str):
        out.text = content if want_text or content else None
        out.generated = bool(content) or bool(get(obj, "tool_call_chunks"))
    if not (out.has_usage or out.response_model or out.response_id or out.finish_reasons or out.text):
        return None
    return out
