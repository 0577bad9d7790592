"""LangChain shapes: ``AIMessage`` / ``AIMessageChunk`` with ``usage_metadata`` and ``response_metadata``.

Tested with langchain-core 1.8 and langchain-openai 1.7 (``ChatOpenAI`` over Chat Completions):

- ``usage_metadata`` counts the semconv way (input includes cache reads and writes; output includes reasoning).
  ``input_token_details`` holds ``cache_read``, ``cache_creation``, ``audio`` and, from langchain-anthropic, the
  cache writes by lifetime (``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``); with OpenAI's
  ``priority`` / ``flex`` service tiers the cache and reasoning keys carry the tier as a prefix
  (``priority_cache_read``), and are read too.
- ``invoke`` / ``ainvoke``: the provider's response id is ``response_metadata["id"]`` (``chatcmpl-...``). The
  message's own ``id`` is LangChain's run id (``run-...`` / ``lc_run--...``): it is never recorded as the response id
  (a message ``id`` that is not a run id is used only when ``response_metadata`` has none).
- ``stream`` / ``astream``: langchain-openai copies neither the provider's ``id`` of the chunks nor anything else that
  identifies the response onto the ``AIMessageChunk`` (every chunk's ``id`` is the run id, ``response_metadata`` has
  only ``finish_reason``, ``model_name``, ``system_fingerprint``, ``model_provider``): a LangChain stream's span has
  no ``gen_ai.response.id``, rather than a wrong one. Usage arrives only with ``stream_usage=True`` (or
  ``stream_options={"include_usage": True}``), on the chunk made from the provider's final usage chunk; without it
  the span's usage is estimated from the text (``chatbot.usage.estimated``).
- A chunk's ``usage_metadata`` is an INCREMENT: ``AIMessageChunk.__add__`` sums the usage of the chunks
  (langchain-anthropic, for one, reports the input tokens on the first chunk and the output tokens on a later one).
  The extraction of a chunk is therefore marked ``increment`` and the stream accumulator adds it to what earlier
  chunks said, so the span shows what the summed ``AIMessageChunk`` shows. A complete ``AIMessage`` is read as is.
- The first generated chunk (time to first chunk) is a chunk with text, a reasoning or thinking block, or a tool-call
  chunk; the role-only first chunk (empty content) is none of these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otel_chatbot.spans._extraction import Extracted, count, get, text_of_str

__all__ = ["is_usage_metadata", "message", "usage"]

_RUN_ID_PREFIXES = ("run-", "lc_run-")
_TIERS = ("", "priority_", "flex_")  # OpenAI service tiers: langchain-openai prefixes the detail keys with them
_REASONING_BLOCKS = frozenset({"reasoning", "thinking", "redacted_thinking"})
_TOOL_BLOCKS = frozenset({"tool_call_chunk", "tool_use", "input_json_delta", "server_tool_call_chunk"})


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


def _tiered(details: Any, key: str) -> int | None:
    """``details[key]`` summed over the service-tier variants of the key (None when none is a count)."""
    total: int | None = None
    for tier in _TIERS:
        value = count(get(details, tier + key))
        if value is not None:
            total = value if total is None else total + value
    return total


def usage(raw: Any, out: Extracted) -> None:
    """``usage_metadata``."""
    out.input_tokens = count(get(raw, "input_tokens"))
    out.output_tokens = count(get(raw, "output_tokens"))
    details_in, details_out = get(raw, "input_token_details"), get(raw, "output_token_details")
    if details_in is not None:
        out.cache_read_tokens = _tiered(details_in, "cache_read")
        out.cache_write_tokens = _tiered(details_in, "cache_creation")
        out.detail("input_audio_tokens", get(details_in, "audio"))
        out.detail("cache_write_5m_tokens", get(details_in, "ephemeral_5m_input_tokens"))
        out.detail("cache_write_1h_tokens", get(details_in, "ephemeral_1h_input_tokens"))
    if details_out is not None:
        out.reasoning_tokens = _tiered(details_out, "reasoning")
        out.detail("output_audio_tokens", get(details_out, "audio"))


def _content(content: Any, out: Extracted) -> None:
    """Visible text and whether anything was generated, from a string or a list of content blocks."""
    if isinstance(content, str):
        out.text = content
        out.generated = out.generated or bool(content)
        return
    if not isinstance(content, Sequence) or isinstance(content, bytes):
        return
    texts: list[str] = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
            continue
        kind = get(block, "type")
        if kind == "text":
            text = get(block, "text")
            if isinstance(text, str):
                texts.append(text)
        elif kind in _REASONING_BLOCKS or kind in _TOOL_BLOCKS:
            out.generated = True
    if texts:
        out.text = "".join(texts)
        out.generated = out.generated or bool(out.text)


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
    if out.response_id is not None and out.response_id.startswith(_RUN_ID_PREFIXES):
        out.response_id = None
    if out.response_id is None:
        own = text_of_str(get(obj, "id"))
        if own is not None and not own.startswith(_RUN_ID_PREFIXES):
            out.response_id = own
    if get(obj, "tool_call_chunks"):
        out.generated = True
    additional = get(obj, "additional_kwargs")
    if additional and isinstance(get(additional, "reasoning_content"), str) and get(additional, "reasoning_content"):
        out.generated = True  # OpenAI-compatible servers' reasoning deltas (DeepSeek and others)
    _content(get(obj, "content"), out)
    if not want_text and not out.generated:
        out.text = None
    out.increment = _is_chunk(obj)
    if not (out.has_usage or out.response_model or out.response_id or out.finish_reasons or out.text or out.generated):
        return None
    return out


def _is_chunk(obj: Any) -> bool:
    """An ``AIMessageChunk`` (or the dict of one): its usage adds to the other chunks' usage."""
    kind = get(obj, "type")
    return isinstance(kind, str) and kind.endswith("Chunk")
