"""Google Gemini shapes (``google-genai``): ``GenerateContentResponse`` and its stream chunks.

Read from ``generate_content`` (sync and ``client.aio``) and each chunk of ``generate_content_stream``, as the SDK's
objects or the plain dicts of their JSON (snake_case as the SDK names fields, or the wire's camelCase).

``prompt_token_count`` includes cached content; ``tool_use_prompt_token_count`` is NOT part of it but is billed as
input, so semconv input = prompt + tool-use prompt. ``candidates_token_count`` excludes thoughts, which are billed as
output: semconv output = candidates + thoughts. ``details`` gets genai-prices' usage keys exactly as its Google
extractor reads them: per-modality ``input_{m}_tokens`` (prompt plus tool-use prompt), ``input_{m}_tool_tokens``,
``cache_{m}_read_tokens``, ``output_{m}_tokens`` (DOCUMENT counts as image), and ``input_tool_tokens``.

A stream chunk's usage is the running total so far: later chunks replace it. Finish reasons are the enum names
(``STOP``, ``MAX_TOKENS``...), one per candidate, kept per candidate index across stream chunks and ordered by it.
The text (time to first token, the usage estimate, captured content) is the first candidate's. A chunk is
``generated`` when a part carries content (a thought, text, a function call, code or its result, inline data); its
``text`` is the visible text only (thoughts excluded), so time to first chunk and time to first token differ when the
model streams its thoughts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from otel_chatbot.spans._extraction import Extracted, count, get, text_of_str

__all__ = ["response", "usage"]

_MODALITIES = {"TEXT": "text", "AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video"}
_CONTENT_PARTS = (
    ("function_call", "functionCall"),
    ("inline_data", "inlineData"),
    ("executable_code", "executableCode"),
    ("code_execution_result", "codeExecutionResult"),
    ("file_data", "fileData"),
)


def _get(obj: Any, snake: str, camel: str) -> Any:
    """A field by the SDK's snake_case name, else by the wire's camelCase."""
    value = get(obj, snake)
    return value if value is not None or not isinstance(obj, Mapping) else obj.get(camel)


def _items(value: Any) -> Iterable[Any]:
    """The items of a list or tuple; nothing for any other value (a dict, a string, a number...)."""
    return value if isinstance(value, list | tuple) else ()


def _name(value: Any) -> str | None:
    """A plain string: an enum's name (Gemini's ``FinishReason`` and ``MediaModality`` are ``str`` enums)."""
    if isinstance(value, enum.Enum):
        return value.name if isinstance(value.name, str) and value.name else None
    text = text_of_str(value)
    return str(text) if text is not None else None


def usage(raw: Any, out: Extracted) -> None:
    """``usage_metadata``."""
    prompt = count(_get(raw, "prompt_token_count", "promptTokenCount"))
    tool_use = count(_get(raw, "tool_use_prompt_token_count", "toolUsePromptTokenCount"))
    candidates = count(_get(raw, "candidates_token_count", "candidatesTokenCount"))
    thoughts = count(_get(raw, "thoughts_token_count", "thoughtsTokenCount"))
    if prompt is not None or tool_use is not None:
        out.input_tokens = (prompt or 0) + (tool_use or 0)
    if candidates is not None or thoughts is not None:
        out.output_tokens = (candidates or 0) + (thoughts or 0)
    out.cache_read_tokens = count(_get(raw, "cached_content_token_count", "cachedContentTokenCount"))
    out.reasoning_tokens = thoughts
    if tool_use:
        out.detail("input_tool_tokens", tool_use)
    details: dict[str, int] = {}
    _modalities(_get(raw, "prompt_tokens_details", "promptTokensDetails"), ("input_{}_tokens",), details)
    _modalities(
        _get(raw, "tool_use_prompt_tokens_details", "toolUsePromptTokensDetails"),
        ("input_{}_tokens", "input_{}_tool_tokens"),
        details,
    )
    _modalities(_get(raw, "cache_tokens_details", "cacheTokensDetails"), ("cache_{}_read_tokens",), details)
    _modalities(_get(raw, "candidates_tokens_details", "candidatesTokensDetails"), ("output_{}_tokens",), details)
    for key, value in details.items():
        out.detail(key, value)


def _modalities(raw: Any, patterns: tuple[str, ...], details: dict[str, int]) -> None:
    """Add each ``{modality, token_count}`` of ``raw`` to ``details`` under each pattern (keys may repeat: summed)."""
    for item in _items(raw):
        modality = _name(get(item, "modality"))
        name = _MODALITIES.get(modality.upper()) if modality else None
        tokens = count(_get(item, "token_count", "tokenCount"))
        if name is None or tokens is None:
            continue
        for pattern in patterns:
            key = pattern.format(name)
            details[key] = details.get(key, 0) + tokens


def response(obj: Any, want_text: bool) -> Extracted | None:
    """A response or a stream chunk (each chunk's usage is the running total: later chunks win)."""
    out = Extracted()
    raw = _get(obj, "usage_metadata", "usageMetadata")
    if raw is not None:
        usage(raw, out)
    out.response_model = _name(_get(obj, "model_version", "modelVersion")) or _name(get(obj, "model"))
    out.response_id = _name(_get(obj, "response_id", "responseId"))
    texts: list[str] = []
    reasons: dict[int, str] = {}
    for position, candidate in enumerate(_items(get(obj, "candidates"))):
        index = count(get(candidate, "index"))
        index = position if index is None else index
        reason = _name(_get(candidate, "finish_reason", "finishReason"))
        if reason:
            reasons[index] = reason
        for part in _items(get(get(candidate, "content"), "parts")):
            text = get(part, "text")
            has_text = isinstance(text, str) and bool(text)
            if get(part, "thought") is True:
                out.generated = out.generated or has_text
            elif has_text:
                if index == 0:  # the first candidate's text only, as OpenAI's choice 0 (TTFT, estimate, content)
                    texts.append(text)
                out.generated = True
            elif any(_get(part, snake, camel) is not None for snake, camel in _CONTENT_PARTS):
                out.generated = True
    if reasons:
        # Each stream chunk may finish another candidate: ``Extracted.merge`` keeps one reason per candidate index.
        out.choice_reasons = reasons
        out.finish_reasons = [reasons[i] for i in sorted(reasons)]
    if texts:
        out.text = "".join(texts)
    if not (out.has_usage or out.response_model or out.response_id or out.finish_reasons or out.text or out.generated):
        return None
    return out
