"""``POST /v1/responses``: OpenAI's Responses API, JSON or SSE with OpenAI's event sequence.

A stream sends ``response.created``, ``response.in_progress``; for a reasoning model asked for ``reasoning.summary``,
the reasoning item (``response.output_item.added``, ``response.reasoning_summary_part.added``,
``response.reasoning_summary_text.delta``..., ``.done`` events); then the message item
(``response.output_item.added``, ``response.content_part.added``, ``response.output_text.delta``...,
``response.output_text.done``, ``response.content_part.done``, ``response.output_item.done``) and
``response.completed`` (``response.incomplete`` when ``max_output_tokens`` cut the answer) with the usage:
``input_tokens_details.cached_tokens`` / ``cache_write_tokens`` and ``output_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from examples.llm_server.openai_chat import cost_usd, pieces, reasoning_tokens, wants_cost
from examples.llm_server.server import error_response, openai_request

__all__ = ["responses"]

_SUMMARY = "Thinking about the question before answering it"


def _messages(body: dict[str, Any]) -> list[Any] | None:
    """The request's ``instructions`` and ``input`` as chat messages (what the planner and tokenizer read)."""
    messages: list[Any] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "developer", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            if isinstance(item, dict) and "role" in item:
                messages.append({"role": item["role"], "content": item.get("content")})
    else:
        return None
    return messages if messages and messages[-1].get("role") != "developer" else None


async def responses(request: Request) -> Response:
    """The endpoint."""
    parsed = await openai_request(request)
    if isinstance(parsed, Response):
        return parsed
    llm, body = parsed
    config = llm.config
    messages = _messages(body) if isinstance(body, dict) else None
    if messages is None:
        return error_response(400, "Missing required parameter: 'input'.", "invalid_request_error", None)
    model = str(body.get("model") or config.model)
    limit = body.get("max_output_tokens")
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    reasoning_request = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    plan = llm.plan(messages, None)
    input_tokens, cached, written = llm.prompt_usage(messages)
    tokens = pieces(" ".join(plan.words))
    incomplete = limit is not None and len(tokens) > limit
    if incomplete and limit is not None:
        tokens = tokens[: max(1, limit)]
    reasoning = reasoning_tokens(config, model, reasoning_request.get("effort"))
    output_tokens = len(tokens) + reasoning
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": cached,
            "cache_write_tokens": written if config.report_cache_writes else 0,
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }
    if wants_cost(config, request, body):
        usage["cost"] = cost_usd(config, input_tokens, output_tokens)
    if plan.outcome != "ok":
        await asyncio.sleep(0.005)
        return error_response(500, "The server had an error while processing your request.", "server_error", None)
    response_id = "resp_" + plan.response_id.removeprefix("chatcmpl-")
    summary = reasoning > 0 and bool(reasoning_request.get("summary"))
    text = "".join(tokens)
    response = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete else "completed",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": limit,
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": reasoning_request.get("effort"), "summary": reasoning_request.get("summary")},
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }
    reasoning_item: dict[str, Any] | None = None
    if reasoning:
        reasoning_item = {"id": f"rs_{response_id[5:]}", "type": "reasoning", "summary": []}
        if summary:
            reasoning_item["summary"] = [{"type": "summary_text", "text": _SUMMARY}]
    message = {
        "id": f"msg_{response_id[5:]}",
        "type": "message",
        "status": "incomplete" if incomplete else "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }
    response["output"] = [i for i in (reasoning_item, message) if i is not None]
    ttft_s = plan.ttft_s + (input_tokens - cached) * config.prefill_ms_per_token / 1000
    reasoning_s = reasoning / plan.tokens_per_s
    if not body.get("stream"):
        await asyncio.sleep(ttft_s + reasoning_s + len(tokens) / plan.tokens_per_s)
        return JSONResponse(response)
    events = _events(response, reasoning_item, message, tokens, ttft_s, reasoning_s, plan.tokens_per_s)
    return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def _events(
    response: dict[str, Any],
    reasoning_item: dict[str, Any] | None,
    message: dict[str, Any],
    tokens: list[str],
    ttft_s: float,
    reasoning_s: float,
    tokens_per_s: float,
) -> AsyncIterator[bytes]:
    sequence = 0

    def event(kind: str, **fields: Any) -> bytes:
        nonlocal sequence
        payload = {"type": kind, "sequence_number": sequence, **fields}
        sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()

    pending = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    yield event("response.created", response=pending)
    yield event("response.in_progress", response=pending)
    await asyncio.sleep(ttft_s)
    index = 0
    if reasoning_item is not None:
        item_id = reasoning_item["id"]
        yield event("response.output_item.added", output_index=0, item={**reasoning_item, "summary": []})
        start = time.perf_counter()
        if reasoning_item["summary"]:
            part = {"type": "summary_text", "text": ""}
            ids = {"item_id": item_id, "output_index": 0, "summary_index": 0}
            yield event("response.reasoning_summary_part.added", **ids, part=part)
            words = pieces(_SUMMARY)
            for i, word in enumerate(words):
                await _sleep_until(start + i * reasoning_s / len(words))
                yield event("response.reasoning_summary_text.delta", **ids, delta=word)
            yield event("response.reasoning_summary_text.done", **ids, text=_SUMMARY)
            yield event("response.reasoning_summary_part.done", **ids, part={**part, "text": _SUMMARY})
        await _sleep_until(start + reasoning_s)
        yield event("response.output_item.done", output_index=0, item=reasoning_item)
        index = 1
    ids = {"item_id": message["id"], "output_index": index, "content_index": 0}
    yield event(
        "response.output_item.added", output_index=index, item={**message, "status": "in_progress", "content": []}
    )
    empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    yield event("response.content_part.added", **ids, part=empty)
    start = time.perf_counter()
    for i, token in enumerate(tokens):
        await _sleep_until(start + i / tokens_per_s)
        yield event("response.output_text.delta", **ids, delta=token, logprobs=[])
    text = "".join(tokens)
    yield event("response.output_text.done", **ids, text=text, logprobs=[])
    yield event("response.content_part.done", **ids, part={**empty, "text": text})
    yield event("response.output_item.done", output_index=index, item=message)
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    yield event(final, response=response)


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
