"""Prompt and response content: off by default, gated in exactly one function, scrubbed, redacted and truncated.

Content attributes (``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.retrieval.query.text``,
``gen_ai.retrieval.documents``) are JSON strings shaped as the GenAI semconv message schemas. Whatever is captured
passes, in order, through the secret scrubber (bearer tokens, API-key shapes), the user's redaction callable, and
the maximum length, before anything is set on a span.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from otel_chatbot._state import STATE
from otel_chatbot.spans._extraction import get

__all__ = ["input_messages", "output_messages", "retrieval_documents", "scrub_secrets", "should_capture_content"]

# Shapes of credentials that must never land in an attribute, even when content capture is on.
_SECRET_PATTERNS = re.compile(
    r"""(?ix)
    (bearer\s+)[a-z0-9._~+/=-]{8,}                      # Authorization: Bearer <token>
    | \b(sk-(?:ant-|proj-|live-|test-)?)[a-z0-9_-]{16,}   # OpenAI / Anthropic / Stripe-style secret keys
    | \b(AIza)[0-9a-z_-]{30,}                            # Google API keys
    | \b(AKIA|ASIA)[0-9A-Z]{16}\b                        # AWS access key ids
    | \b(gh[pousr]_)[a-z0-9]{30,}                        # GitHub tokens
    | \b(xox[abposr]-)[a-z0-9-]{10,}                     # Slack tokens
    | ((?:api[_-]?key|access[_-]?token|secret|password)["']?\s*[:=]\s*["']?)[^\s"',;&]{8,}  # key=value secrets
    | ([?&](?:key|api[_-]?key|apikey|token|access[_-]?token|sig|signature|password)=)[^&#\s]+  # URL query
    """
)


def _mask(match: re.Match[str]) -> str:
    prefix = next((g for g in match.groups() if g), "")
    return f"{prefix}[REDACTED]"


def scrub_secrets(text: str) -> str:
    """Replace bearer tokens and API-key shapes in ``text`` with ``[REDACTED]`` (keeping the prefix)."""
    return _SECRET_PATTERNS.sub(_mask, text)


def should_capture_content() -> bool:
    """The single gate: is prompt/response content captured? (``configure(capture_content=...)`` or the env var)."""
    return STATE.content.capture_content


def _finish(value: str) -> str:
    settings = STATE.content
    value = settings.redact(scrub_secrets(value))
    value = scrub_secrets(value) if value else value  # the redactor may have reshaped text; scrub once more
    limit = settings.max_content_length
    return value if len(value) <= limit else value[: max(0, limit - 14)] + "...[truncated]"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _part_text(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, Sequence) and not isinstance(content, bytes):
        parts: list[dict[str, Any]] = []
        for item in content:
            text = item if isinstance(item, str) else get(item, "text")
            if isinstance(text, str):
                parts.append({"type": "text", "content": text})
        return parts
    return []


def input_messages(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
    """``gen_ai.input.messages`` from a call's ``messages`` argument (or its first list of messages), or None."""
    messages = kwargs.get("messages")
    if messages is None:
        messages = next((a for a in args if _looks_like_messages(a)), None)
    if messages is None:
        prompt = kwargs.get("prompt") or kwargs.get("question") or kwargs.get("query")
        if prompt is None:
            prompt = next((a for a in args if isinstance(a, str)), None)
        if not isinstance(prompt, str):
            return None
        return _finish(_dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]))
    shaped = [{"role": str(get(m, "role") or "user"), "parts": _part_text(get(m, "content"))} for m in messages]
    return _finish(_dumps(shaped))


def _looks_like_messages(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and len(value) > 0
        and all(get(m, "role") is not None for m in value)
    )


def output_messages(text: str | None, finish_reasons: Sequence[str]) -> str | None:
    """``gen_ai.output.messages`` for generated ``text``, or None."""
    if text is None:
        return None
    message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
    if finish_reasons:
        message["finish_reason"] = finish_reasons[0]
    return _finish(_dumps([message]))


def query_text(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
    """``gen_ai.retrieval.query.text`` from a retrieval call's query argument, or None."""
    query = kwargs.get("query", kwargs.get("q", kwargs.get("question")))
    if query is None:
        query = next((a for a in args if isinstance(a, str)), None)
    return _finish(query) if isinstance(query, str) else None


def retrieval_documents(result: Any) -> str | None:
    """``gen_ai.retrieval.documents`` (``[{"id", "score"}]``) from what a retrieval returned, or None."""
    if not isinstance(result, Sequence) or isinstance(result, str | bytes):
        return None
    documents = []
    for item in result:
        doc_id, score = get(item, "id"), get(item, "score")
        if doc_id is None:
            continue
        entry: dict[str, Any] = {"id": str(doc_id)}
        if isinstance(score, int | float) and not isinstance(score, bool):
            entry["score"] = float(score)
        documents.append(entry)
    return _finish(_dumps(documents)) if documents else None
