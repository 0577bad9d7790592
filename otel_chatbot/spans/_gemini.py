"""Google Gemini shapes (``google-genai``): ``GenerateContentResponse`` and its stream chunks.

``prompt_token_count`` includes cached content; ``tool_use_prompt_token_count`` is NOT part of it but is billed as
input, so semconv input = prompt + tool-use prompt. ``candidates_token_count`` excludes thoughts, which are billed as
output: semconv output = candidates + thoughts. Per-modality counts (``*_tokens_details``) go to ``details``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otel_chatbot.spans._extraction import Extracted, count, get, text_of_str

__all__ = ["response", "usage"]

_MODALITIES = {"TEXT": "text", "AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video"}


def usage(raw: Any, out: Extracted) -> None:
    """``usage_metadata``."""
    prompt = count(get(raw, "prompt_token_count"))
    tool_use = count(get(raw, "tool_use_prompt_token_count"))
    candidates = count(get(raw, "candidates_token_count"))
    thoughts = count(get(raw, "thoughts_token_count"))
    if prompt is not None or tool_use is not None:
        out.input_tokens = (prompt or 0) + (tool_use or 0)
    if candidates is not None or thoughts is not None:
        out.output_tokens = (candidates or 0) + (thoughts or 0)
    out.cache_read_tokens = count(get(raw, "cached_content_token_count"))
    out.reasoning_tokens = thoughts
    if tool_use:
        out.detail("input_tool_tokens", tool_use)
    _modalities(get(raw, "prompt_tokens_details"), "input_{}_tokens", out)
    _modalities(get(raw, "tool_use_prompt_tokens_details"), "input_{}_tokens", out)
    _modalities(get(raw, "cache_tokens_details"), "cache_{}_read_tokens", out)
    _modalities(get(raw, "candidates_tokens_details"), "output_{}_tokens", out)


def _modalities(details: Any, pattern: str, out: Extracted) -> None:
    if not isinstance(details, Sequence) or isinstance(details, str | bytes):
        return
    for item in details:
        modality = text_of_str(get(item, "modality"))
        name = _MODALITIES.get(modality.upper()) if modality else None
        tokens = count(get(item, "token_count"))
        if name is None or tokens is None:
            continue
        key = pattern.format(name)
        previous = (out.details or {}).get(key, 0)
        out.detail(key, previous + tokens)  # DOCUMENT and IMAGE share a key; tool-use adds to the prompt's


def response(obj: Any, want_text: bool) -> Extracted | None:
    """A response or a stream chunk (each chunk's usage is the running total: later chunks win)."""
    out = Extracted()
    raw = get(obj, "usage_metadata")
    if raw is not None:
        usage(raw, out)
    out.response_model = text_of_str(get(obj, "model_version")) or text_of_str(get(obj, "model"))
    out.response_id = text_of_str(get(obj, "response_id"))
    candidates = get(obj, "candidates")
    if isinstance(candidates, Sequence) and not isinstance(candidates, str | bytes):
        out.finish_reasons = [r for c in candidates if (r := text_of_str(get(c, "finish_reason")))]
        texts: list[str] = []
        for candidate in candidates:
            parts = get(get(candidate, "content"), "parts")
            if not isinstance(parts, Sequence) or isinstance(parts, str | bytes):
                continue
            for part in parts:
                text = get(part, "text")
                if get(part, "thought"):
                    out.generated = True
                elif isinstance(text, str) and text:
                    texts.append(text)
                    out.generated = True
                elif get(part, "function_call") is not None or get(part, "inline_data") is not None:
                    out.generated = True
        if texts:
            out.text = "".join(texts)
    if not (out.has_usage or out.response_model or out.response_id or out.finish_reasons or out.text or out.generated):
        return None
    return out
