"""``POST /v1/chat/completions``: OpenAI Chat Completions, JSON or SSE (the switches are in ``server``'s docstring).

Every answer is a text streamed as tokens (``pieces``): plain words, a JSON document (``response_format``), tool-call
arguments (``tools``) or an audio transcript (``modalities``). ``usage.completion_tokens`` counts the tokens of all
choices, plus reasoning and audio tokens.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import itertools
import json
import math
import random
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from examples.llm_server.server import LLMServer, ServerConfig, error_response, openai_request

__all__ = [
    "chat_completions",
    "input_audio_tokens",
    "is_reasoning_model",
    "json_instance",
    "pieces",
    "reasoning_tokens",
    "wants_cost",
]

_PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])")
_WORD_RE = re.compile(r"[A-Za-z]+")
_REASONING_MODEL_RE = re.compile(r"^(o\d|gpt-5)")
_EFFORT_FACTORS = {"none": 0.0, "minimal": 0.0, "low": 0.25, "medium": 1.0, "high": 4.0, "xhigh": 8.0}
_MAX_N = 8


def pieces(text: str) -> list[str]:
    """``text`` as streamed tokens (words and punctuation with their leading space): they join back to ``text``."""
    return _PIECE_RE.findall(text)


def is_reasoning_model(model: str) -> bool:
    """OpenAI's reasoning models: ``o1``, ``o3-mini``, ``o4-mini``..., ``gpt-5*`` (a ``vendor/`` prefix is ignored)."""
    return _REASONING_MODEL_RE.match(model.rsplit("/", 1)[-1]) is not None


def reasoning_tokens(config: ServerConfig, model: str, effort: Any) -> int:
    """Reasoning tokens of one answer: none unless a reasoning model; ``config.reasoning_tokens`` at ``medium``."""
    if not is_reasoning_model(model):
        return 0
    factor = _EFFORT_FACTORS.get(effort if isinstance(effort, str) else "medium", 1.0)
    return int(config.reasoning_tokens * factor)


def input_audio_tokens(messages: list[Any]) -> int:
    """Audio tokens of the ``input_audio`` content parts: one per 64 characters of base64 data (at least one)."""
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "input_audio":
                data = (part.get("input_audio") or {}).get("data")
                total += max(1, len(data) // 64) if isinstance(data, str) else 1
    return total


def wants_cost(config: ServerConfig, request: Request, body: dict[str, Any]) -> bool:
    """Whether to report ``usage.cost`` (config, ``X-Report-Cost: true``, or OpenRouter's ``usage.include``)."""
    if config.report_cost or request.headers.get("x-report-cost", "").lower() in ("1", "true", "yes"):
        return True
    usage = body.get("usage")
    return isinstance(usage, dict) and usage.get("include") is True


def cost_usd(config: ServerConfig, prompt_tokens: int, completion_tokens: int) -> float:
    """The provider-reported cost of a call, at the server's own rates."""
    return (prompt_tokens * config.cost_input_mtok + completion_tokens * config.cost_output_mtok) / 1_000_000


def json_instance(schema: Any, words: Iterator[str], defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A JSON value valid for ``schema`` (the subset OpenAI's structured outputs use), strings made of ``words``."""
    if not isinstance(schema, dict) or depth > 12:
        return None
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return json_instance(defs.get(ref.rsplit("/", 1)[-1]), words, defs, depth + 1)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return json_instance((non_null or options)[0], words, defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: json_instance(sub, words, defs, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [json_instance(schema.get("items") or {"type": "string"}, words, defs, depth + 1)]
    if kind == "integer":
        return len(next(words))
    if kind == "number":
        return len(next(words)) + 0.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"{next(words)} {next(words)}"


@dataclasses.dataclass
class _Answer:
    """One choice: its kind (``text``, ``tool`` or ``audio``), streamed tokens and finish reason."""

    kind: str
    tokens: list[str]
    finish_reason: str
    tool: dict[str, Any] | None = None  # the function called
    call_id: str = ""

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def _words(config: ServerConfig, messages: list[Any], index: int, length: int | None) -> tuple[str, ...]:
    """Choice ``index``'s words (choice 0: the plan's); ``length`` forces a number of words."""
    seed = f"{config.seed}:{index}:" + json.dumps(messages, sort_keys=True, default=str)
    rng = random.Random(seed)
    if length is None:
        length = max(4, int(rng.lognormvariate(math.log(max(config.output_tokens_median, 1)), 0.4)))
    last = messages[-1] if messages else {}
    content = last.get("content") if isinstance(last, dict) else None
    vocabulary = tuple(_WORD_RE.findall(content if isinstance(content, str) else "")) + ("the", "answer", "is", "here")
    return tuple(rng.choice(vocabulary) for _ in range(length))


def _tool_to_call(body: dict[str, Any], messages: list[Any]) -> dict[str, Any] | None:
    """The function the model calls, if any (see the module docstring of ``server``)."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return None
    functions: list[dict[str, Any]] = [
        t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((f for f in functions if f.get("name") == name), functions[0])
    if choice == "required":
        return functions[0]
    last = messages[-1]
    return functions[0] if isinstance(last, dict) and last.get("role") == "user" else None


def _answers(
    llm: LLMServer, body: dict[str, Any], messages: list[Any], n: int, limit: int | None, first: tuple[str, ...]
) -> list[_Answer]:
    """Each choice's answer; choice 0's words are the plan's (the text this server always gave)."""
    config = llm.config
    tool = _tool_to_call(body, messages)
    audio = "audio" in (body.get("modalities") or ())
    given_format = body.get("response_format")
    response_format: dict[str, Any] = given_format if isinstance(given_format, dict) else {}
    answers = []
    for index in range(n):
        long_winded = n > 1 and index == n - 1 and limit is not None
        if index == 0:
            words = first
        else:
            words = _words(config, messages, index, limit + 8 if long_winded and limit is not None else None)
        cycle = itertools.cycle(words)
        kind = "text"
        finish = "stop"
        if tool is not None:
            kind, finish = "tool", "tool_calls"
            parameters = tool.get("parameters") or {"type": "object", "properties": {}}
            text = json.dumps(json_instance(parameters, cycle))
        elif response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            text = json.dumps(json_instance(schema, cycle))
        elif response_format.get("type") == "json_object":
            text = json.dumps({"answer": " ".join(words)})
        else:
            kind = "audio" if audio else "text"
            text = " ".join(words)
        tokens = pieces(text)
        if limit is not None and len(tokens) > limit:
            tokens, finish = tokens[: max(1, limit)], "length"
        digest = hashlib.sha256(f"{config.seed}:{index}:{text}".encode()).hexdigest()
        answers.append(_Answer(kind, tokens, finish, tool if kind == "tool" else None, digest[:24]))
    return answers


def _audio(answer: _Answer, created: int) -> dict[str, Any]:
    data = base64.b64encode(answer.text.encode()).decode()  # stands in for the encoded audio
    return {"id": f"audio_{answer.call_id}", "data": data, "expires_at": created + 3600, "transcript": answer.text}


def _message(answer: _Answer, created: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if answer.kind == "text":
        message["content"] = answer.text
    elif answer.kind == "tool" and answer.tool is not None:
        function = {"name": answer.tool.get("name"), "arguments": answer.text}
        message["tool_calls"] = [{"id": f"call_{answer.call_id}", "type": "function", "function": function}]
    elif answer.kind == "audio":
        message["audio"] = _audio(answer, created)
    return message


async def chat_completions(request: Request) -> Response:
    """The endpoint: validate, plan, answer (JSON or SSE)."""
    parsed = await openai_request(request)
    if isinstance(parsed, Response):
        return parsed
    llm, body = parsed
    config = llm.config
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return error_response(400, "'messages' is a required property", "invalid_request_error", None)
    n = body.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= _MAX_N:
        return error_response(400, f"n must be an integer from 1 to {_MAX_N}.", "invalid_request_error", None)
    model = str(body.get("model") or config.model)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    limit = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None
    stream = bool(body.get("stream", False))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage", False))

    plan = llm.plan(messages, None)  # the outcome, timing and choice 0's natural words (cut below)
    prompt_tokens, cached, written = llm.prompt_usage(messages)
    answers = _answers(llm, body, messages, n, limit, plan.words)
    audio_in = input_audio_tokens(messages)
    prompt_tokens += audio_in
    reasoning = reasoning_tokens(config, model, body.get("reasoning_effort")) * n
    text_out = sum(len(a.tokens) for a in answers)
    audio_out = sum(len(a.tokens) * config.audio_tokens_per_token for a in answers if a.kind == "audio")
    completion_tokens = text_out + audio_out + reasoning
    prompt_details: dict[str, Any] = {"cached_tokens": cached, "audio_tokens": audio_in}
    if config.report_cache_writes:
        prompt_details["cache_write_tokens"] = written
    completion_details: dict[str, Any] = {
        "reasoning_tokens": reasoning,
        "audio_tokens": audio_out,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    if audio_out:
        completion_details["text_tokens"] = text_out
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": completion_details,
    }
    if wants_cost(config, request, body):
        usage["cost"] = cost_usd(config, prompt_tokens, completion_tokens)
    ttft_s = plan.ttft_s + (prompt_tokens - cached) * config.prefill_ms_per_token / 1000
    if (failed := await _failure(plan.outcome, model, ttft_s, config)) is not None:
        return failed

    created = int(time.time())
    reasoning_s = reasoning / n / plan.tokens_per_s
    # The response starts (headers and first bytes) when the first token is ready, as with OpenAI.
    await asyncio.sleep(ttft_s)
    if not stream:
        longest = max(len(a.tokens) for a in answers)
        await asyncio.sleep(reasoning_s + longest / plan.tokens_per_s)
        completion = {
            "id": plan.response_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_local",
            "choices": [
                {"index": i, "message": _message(a, created), "logprobs": None, "finish_reason": a.finish_reason}
                for i, a in enumerate(answers)
            ],
            "usage": usage,
        }
        return JSONResponse(completion)
    head = {"id": plan.response_id, "object": "chat.completion.chunk", "created": created, "model": model}
    sse = _stream(head, answers, usage if include_usage else None, reasoning_s, plan.tokens_per_s, config)
    return StreamingResponse(sse, media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def _failure(outcome: str, model: str, ttft_s: float, config: ServerConfig) -> Response | None:
    if outcome == "429":
        await asyncio.sleep(0.005)
        return error_response(
            429,
            f"Rate limit reached for {model} on tokens per min (TPM). Please try again in 1s.",
            "tokens",
            "rate_limit_exceeded",
            headers={"retry-after": "1"},
        )
    if outcome == "500":
        await asyncio.sleep(ttft_s / 2)
        return error_response(
            500, "The server had an error while processing your request. Sorry about that!", "server_error", None
        )
    if outcome == "hang":
        await asyncio.sleep(config.hang_s)
        return error_response(504, "Gateway timeout.", "server_error", "timeout")
    return None


def _delta(answer: _Answer, token: str, first: bool) -> dict[str, Any]:
    if answer.kind == "tool" and answer.tool is not None:
        call: dict[str, Any] = {"index": 0, "function": {"arguments": token}}
        if first:
            function = {"name": answer.tool.get("name"), "arguments": token}
            call = {"index": 0, "id": f"call_{answer.call_id}", "type": "function", "function": function}
        return {"tool_calls": [call]}
    if answer.kind == "audio":
        return {"audio": {"id": f"audio_{answer.call_id}", "transcript": token}}
    return {"content": token}


async def _stream(
    head: dict[str, Any],
    answers: list[_Answer],
    usage: dict[str, Any] | None,
    reasoning_s: float,
    tokens_per_s: float,
    config: ServerConfig,
) -> AsyncIterator[bytes]:
    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        payload: dict[str, Any] = {
            **head,
            "system_fingerprint": "fp_local",
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if usage is not None:
            payload["usage"] = None
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    # OpenAI's first chunk of each choice carries the role and an empty content: a chunk, but not a token.
    for index, answer in enumerate(answers):
        yield chunk(index, {"role": "assistant", "content": "" if answer.kind == "text" else None, "refusal": None})
    if reasoning_s > 0:
        key = config.reasoning_stream
        if key in ("reasoning_content", "reasoning"):
            steps = 8
            start = time.perf_counter()
            for step in range(steps):
                await _sleep_until(start + step * reasoning_s / steps)
                yield chunk(0, {"content": None, key: "thinking " if step else "Thinking "})
            await _sleep_until(start + reasoning_s)
        else:
            await asyncio.sleep(reasoning_s)
    start = time.perf_counter()
    for step in range(max(len(a.tokens) for a in answers)):
        # Absolute schedule, so sleeping overhead does not accumulate into a slower rate.
        await _sleep_until(start + step / tokens_per_s)
        for index, answer in enumerate(answers):
            if step < len(answer.tokens):
                yield chunk(index, _delta(answer, answer.tokens[step], step == 0))
            if step == len(answer.tokens) - 1:
                if answer.kind == "audio":
                    audio = _audio(answer, head["created"])
                    yield chunk(index, {"audio": {"id": audio["id"], "data": audio["data"]}})
                yield chunk(index, {}, answer.finish_reason)
    if usage is not None:
        final = {**head, "system_fingerprint": "fp_local", "choices": [], "usage": usage}
        yield b"data: " + json.dumps(final).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
