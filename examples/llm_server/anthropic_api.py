"""The Anthropic Messages API on the local LLM server: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Point the real SDK at the server's root: ``anthropic.Anthropic(base_url=llm_url, api_key="any")`` (the SDK adds
``/v1/messages``). Latency, failures and the answer come from the server's :class:`~.server.ServerConfig` and
:meth:`~.server.LLMServer.plan` exactly as for the OpenAI routes (same seed, same time to first token, same rate);
everything Anthropic-specific is driven by the request, as with the real API:

- ``stream``: ``false`` answers one JSON ``message``; ``true`` answers SSE with the real event sequence:
  ``message_start`` (sent at once, usage with the input counts and ``output_tokens: 1``), ``ping``, then per content
  block ``content_block_start`` / ``content_block_delta`` (``text_delta``, ``thinking_delta``, ``signature_delta``,
  ``input_json_delta``) / ``content_block_stop``, then ``message_delta`` (stop reason and CUMULATIVE usage: every
  count there replaces the one of ``message_start``, input included) and ``message_stop``. The first generated delta
  comes after the plan's time to first token; deltas then follow at the plan's tokens per second.
- ``max_tokens`` (required, as the API: 400 without it) caps thinking plus answer; a cut answer ends with
  ``stop_reason: max_tokens``. ``stop_sequences``: the answer stops before the first word equal to one of them
  (``stop_reason: stop_sequence``, ``stop_sequence`` set). Otherwise ``end_turn``.
- ``cache_control: {"type": "ephemeral"}`` on a tools entry, a ``system`` block or a message content block marks a
  cache breakpoint, with a 5-minute lifetime, or 1 hour with ``"ttl": "1h"`` (a 1-hour breakpoint after a 5-minute
  one is a 400, as the API). A prefix ending at a breakpoint and at least ``ServerConfig.cache_min_tokens`` long is
  written to the server's prompt cache (keyed by model): the first request bills it as ``cache_creation_input_tokens``
  split into ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` by the lifetime of the
  breakpoint that ends each written part; a later request with the same prefix reads the longest live one
  (``cache_read_input_tokens``, and the read refreshes its lifetime). ``input_tokens`` EXCLUDES both, as Anthropic's.
- ``thinking: {"type": "enabled", "budget_tokens": N}`` (N >= 1024 and < ``max_tokens``, else 400): a ``thinking``
  block (its text, then one ``signature_delta``) comes before the answer; it holds ``min(N, 2 x answer words)``
  tokens, streamed at the plan's rate, so the first text arrives that much later than the first thinking delta.
  Thinking tokens are billed in ``output_tokens`` and reported in ``output_tokens_details.thinking_tokens``.
- ``tools`` with client tools (no ``type``, or ``"custom"``): the model calls one when ``tool_choice`` is ``any``
  (the first tool) or ``{"type": "tool", "name": ...}``, or, with ``auto`` (the default), when the last user text
  names a tool; never with ``none`` or when the last user message carries a ``tool_result``. The answer is then one
  ``tool_use`` block (id ``toolu_...``, input built from the tool's ``input_schema`` properties, streamed as
  ``input_json_delta`` pieces) and ``stop_reason: tool_use``.
- ``tools`` with a web-search server tool (``type: "web_search_..."``): the model first runs ``max_uses`` searches
  (default 1, at most 5), each a ``server_tool_use`` block (its query streamed as ``input_json_delta``), a pause of
  ``SEARCH_MS`` and a ``web_search_tool_result`` block; then it answers. The results are read as input:
  ``input_tokens`` grows by their tokens, so in a stream ``message_start`` has the prompt's input and
  ``message_delta`` the larger final one. ``usage.server_tool_use.web_search_requests`` counts the searches.
- Authentication: with ``ServerConfig.api_key`` set, requests need ``x-api-key: <key>`` (or ``Authorization: Bearer
  <key>``), else a 401 ``authentication_error``.
- Errors have Anthropic's shape, ``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}``:
  400 ``invalid_request_error``, 401 ``authentication_error``, 429 ``rate_limit_error`` (``retry-after: 1``), 500
  ``api_error``, 504 ``timeout_error`` after a hang, drawn at the configured rates. Every response has a
  ``request-id`` header.

Token counts use the server's approximate tokenizer (words and punctuation): the prompt counts the tool definitions
(as JSON), the system text and every message (3 tokens of framing each, plus its blocks' text), plus 3 tokens to
start the answer; the answer counts one token per word. ``count_tokens`` returns the prompt's total.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from examples.llm_server.server import _TOKEN_RE, LLMServer

__all__ = ["SEARCH_MS", "anthropic_routes"]

SEARCH_MS = 60.0
"""How long one web search takes, between its ``server_tool_use`` block and its result."""
_TTL_S = {"5m": 300.0, "1h": 3600.0}
_MAX_SEARCHES = 5
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def anthropic_routes(llm: LLMServer) -> list[BaseRoute]:
    """The Messages API routes over ``llm`` (its config, plans and counters), with their own prompt cache."""
    cache = _PromptCache()

    async def messages(request: Request) -> Response:
        return await _messages(request, llm, cache)

    async def count(request: Request) -> Response:
        body, problem = await _parse(request, llm)
        if problem is not None:
            return problem
        prompt = _Prompt.of(body)
        return _json({"input_tokens": len(prompt.tokens)})

    return [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", count, methods=["POST"]),
    ]


# --- errors and ids ----------------------------------------------------------------------------------------------


def _request_id() -> str:
    return "req_" + _b62(random.getrandbits(128))


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={"request-id": _request_id(), **(headers or {})})


def _error(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> Response:
    request_id = _request_id()
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id, **(headers or {})})


def _b62(number: int, length: int = 22) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def _id(prefix: str, seed: str) -> str:
    return f"{prefix}_01" + _b62(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big"))


async def _parse(request: Request, llm: LLMServer) -> tuple[dict[str, Any], Response | None]:
    expected = llm.config.api_key
    if expected is not None:
        given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if given.strip() != expected:
            return {}, _error(401, "authentication_error", "invalid x-api-key")
    try:
        body = await request.json()
    except ValueError:
        return {}, _error(400, "invalid_request_error", "There was an error parsing the body of your request.")
    if not isinstance(body, dict):
        return {}, _error(400, "invalid_request_error", "The request body must be a JSON object.")
    for field in ("model", "messages"):
        if field not in body:
            return {}, _error(400, "invalid_request_error", f"{field}: Field required")
    if not isinstance(body["messages"], list) or not body["messages"]:
        return {}, _error(400, "invalid_request_error", "messages: at least one message is required")
    return body, None


# --- the prompt and its cache ------------------------------------------------------------------------------------


def _block_text(block: Any) -> str:
    """The text of a content block (or of a string), whatever its type; images and documents count as their JSON."""
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "thinking":
        return str(block.get("thinking", ""))
    if kind in ("tool_use", "server_tool_use"):
        return f"{block.get('name', '')} {json.dumps(block.get('input', {}))}"
    if kind == "tool_result":
        content = block.get("content", "")
        return " ".join(_block_text(b) for b in content) if isinstance(content, list) else str(content)
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)


@dataclasses.dataclass
class _Prompt:
    """The prompt's tokens in the API's order (tools, system, messages) and its cache breakpoints."""

    tokens: list[str]
    breakpoints: list[tuple[int, str]]  # (prefix length, ttl)

    @classmethod
    def of(cls, body: dict[str, Any]) -> _Prompt:
        prompt = cls([], [])
        for tool in body.get("tools") or ():
            if isinstance(tool, dict):
                prompt.add(json.dumps({k: v for k, v in tool.items() if k != "cache_control"}), tool)
        system = body.get("system")
        for block in [system] if isinstance(system, str) else system or ():
            prompt.add(_block_text(block), block)
        for message in body.get("messages") or ():
            if not isinstance(message, dict):
                continue
            prompt.tokens.extend(["<|start|>", str(message.get("role", "")), "<|sep|>"])
            content = message.get("content")
            for block in [content] if isinstance(content, str) else content or ():
                prompt.add(_block_text(block), block)
        prompt.tokens.extend(["<|start|>", "assistant", "<|sep|>"])
        return prompt

    def add(self, text: str, block: Any) -> None:
        self.tokens.extend(_TOKEN_RE.findall(text))
        control = block.get("cache_control") if isinstance(block, dict) else None
        if isinstance(control, dict) and control.get("type") == "ephemeral":
            self.breakpoints.append((len(self.tokens), str(control.get("ttl") or "5m")))


@dataclasses.dataclass(frozen=True)
class _CacheUse:
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h


class _PromptCache:
    """Prefixes written at cache breakpoints, with their expiry (monotonic seconds)."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._expiry: dict[bytes, float] = {}
        self._capacity = capacity

    def use(self, model: str, prompt: _Prompt, min_tokens: int) -> _CacheUse:
        now = time.monotonic()
        points: list[tuple[int, str, bytes]] = []
        for length, ttl in sorted(set(prompt.breakpoints)):
            if length >= min_tokens and not (points and points[-1][0] == length):
                key = hashlib.sha256("\x00".join([model, *prompt.tokens[:length]]).encode()).digest()
                points.append((length, ttl, key))
        read = next((length for length, _, key in reversed(points) if self._expiry.get(key, 0.0) > now), 0)
        write = {"5m": 0, "1h": 0}
        written_to = read
        for length, ttl, key in points:
            lifetime = _TTL_S.get(ttl, _TTL_S["5m"])
            self._expiry[key] = max(self._expiry.get(key, 0.0), now + lifetime)  # a read refreshes the lifetime
            if length > read:
                write["1h" if ttl == "1h" else "5m"] += length - written_to
                written_to = length
        if len(self._expiry) > self._capacity:
            for key in [k for k, expiry in self._expiry.items() if expiry <= now] or list(self._expiry)[:1]:
                del self._expiry[key]
        return _CacheUse(read, write["5m"], write["1h"])


# --- what the model answers --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Answer:
    """The content blocks (as JSON), the output tokens of each, and the usage and stop reason they make."""

    blocks: list[dict[str, Any]]
    tokens: list[int]
    thinking_tokens: int
    searches: int
    search_tokens: int
    stop_reason: str
    stop_sequence: str | None


def _client_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") in (None, "custom")]
    given = body.get("tool_choice")
    choice: dict[str, Any] = given if isinstance(given, dict) else {"type": "auto"}
    last = body["messages"][-1] if isinstance(body["messages"][-1], dict) else {}
    content = last.get("content")
    blocks = content if isinstance(content, list) else [content]
    if not tools or choice.get("type") == "none":
        return None
    if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks):
        return None
    if choice.get("type") == "any":
        return tools[0]
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    text = " ".join(_block_text(b) for b in blocks).lower()
    return next((t for t in tools if str(t.get("name", "")).lower() in text), None)


def _tool_input(tool: dict[str, Any], words: Sequence[str]) -> dict[str, Any]:
    schema = tool.get("input_schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    values: dict[str, Any] = {}
    for i, (name, spec) in enumerate(properties.items()):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind in ("integer", "number"):
            values[name] = 3 + i
        elif kind == "boolean":
            values[name] = True
        else:
            values[name] = " ".join(words[i : i + 2]) if words else name
    return values


def _answer(body: dict[str, Any], words: Sequence[str], seed: str, max_tokens: int) -> _Answer:
    """The blocks of the answer; ``words`` is the plan's whole (uncut) answer."""
    blocks: list[dict[str, Any]] = []
    tokens: list[int] = []
    rng = random.Random(seed)
    budget = max_tokens
    thinking_tokens = 0
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        thinking_tokens = min(int(thinking["budget_tokens"]), 2 * len(words), budget)
        text = " ".join(rng.choice(words) for _ in range(thinking_tokens))
        signature = hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()
        blocks.append({"type": "thinking", "thinking": text, "signature": signature})
        tokens.append(thinking_tokens)
        budget -= thinking_tokens
    searches = search_tokens = 0
    tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
    web = next((t for t in tools if str(t.get("type", "")).startswith("web_search")), None)
    if isinstance(web, dict):
        searches = max(1, min(int(web.get("max_uses") or 1), _MAX_SEARCHES))
        for i in range(searches):
            use_id = _id("srvtoolu", f"{seed}:search:{i}")
            query = " ".join(words[i : i + 3])
            blocks.append({"type": "server_tool_use", "id": use_id, "name": "web_search", "input": {"query": query}})
            tokens.append(len(_TOKEN_RE.findall(json.dumps({"query": query}))))
            results = [
                {
                    "type": "web_search_result",
                    "title": f"{query.title()} ({n + 1})",
                    "url": f"https://example.com/{i}/{n}",
                    "encrypted_content": hashlib.sha256(f"{use_id}:{n}".encode()).hexdigest(),
                    "page_age": "April 30, 2025",
                }
                for n in range(3)
            ]
            blocks.append({"type": "web_search_tool_result", "tool_use_id": use_id, "content": results})
            tokens.append(0)
            search_tokens += len(_TOKEN_RE.findall(json.dumps(results)))
    tool = _client_tool(body)
    stop_sequence = None
    if tool is not None:
        tool_input = _tool_input(tool, words)
        tool_id = _id("toolu", f"{seed}:tool")
        blocks.append({"type": "tool_use", "id": tool_id, "name": str(tool.get("name")), "input": tool_input})
        tokens.append(len(_TOKEN_RE.findall(json.dumps(tool_input))))
        stop_reason = "tool_use"
    else:
        answer = list(words)
        stop_reason = "end_turn"
        stops = [s for s in body.get("stop_sequences") or () if isinstance(s, str)]
        cut = next((i for i, w in enumerate(answer) if w in stops), None)
        if cut is not None:
            answer, stop_reason, stop_sequence = answer[:cut], "stop_sequence", answer[cut]
        if len(answer) > budget:
            answer, stop_reason, stop_sequence = answer[: max(budget, 0)], "max_tokens", None
        blocks.append({"type": "text", "text": " ".join(answer)})
        tokens.append(len(answer))
    return _Answer(blocks, tokens, thinking_tokens, searches, search_tokens, stop_reason, stop_sequence)


def _validate(body: dict[str, Any]) -> str | None:
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required" if max_tokens is None else "max_tokens: Input should be a positive integer"
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= max_tokens:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
    ttls = [ttl for _, ttl in _Prompt.of(body).breakpoints]
    if "1h" in ttls and "5m" in ttls[: len(ttls) - ttls[::-1].index("1h")]:
        return "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block"
    return None


# --- the route ---------------------------------------------------------------------------------------------------


async def _messages(request: Request, llm: LLMServer, cache: _PromptCache) -> Response:
    body, problem = await _parse(request, llm)
    if problem is not None:
        return problem
    if (problem_text := _validate(body)) is not None:
        return _error(400, "invalid_request_error", problem_text)
    cfg = llm.config
    model = str(body["model"])
    plan = llm.plan(body["messages"], None)
    prompt = _Prompt.of(body)
    cached = cache.use(model, prompt, cfg.cache_min_tokens)
    uncached = len(prompt.tokens) - cached.read - cached.write
    ttft = plan.ttft_s + uncached * cfg.prefill_ms_per_token / 1000
    if plan.outcome == "429":
        await asyncio.sleep(0.005)
        limited = "Number of request tokens has exceeded your per-minute rate limit."
        return _error(429, "rate_limit_error", limited, {"retry-after": "1"})
    if plan.outcome == "500":
        await asyncio.sleep(ttft / 2)
        return _error(500, "api_error", "Internal server error")
    if plan.outcome == "hang":
        await asyncio.sleep(cfg.hang_s)
        return _error(504, "timeout_error", "Request timed out")

    msg_id = _id("msg", plan.response_id)
    answer = _answer(body, plan.words, plan.response_id, int(body["max_tokens"]))
    output = sum(answer.tokens)
    start_usage: dict[str, Any] = {
        "input_tokens": uncached,
        "cache_creation_input_tokens": cached.write,
        "cache_read_input_tokens": cached.read,
        "cache_creation": {"ephemeral_5m_input_tokens": cached.write_5m, "ephemeral_1h_input_tokens": cached.write_1h},
        "output_tokens": 1,
        "service_tier": "standard",
    }
    final_usage: dict[str, Any] = {**start_usage, "input_tokens": uncached + answer.search_tokens}
    final_usage["output_tokens"] = output
    if answer.searches:
        final_usage["server_tool_use"] = {"web_search_requests": answer.searches, "web_fetch_requests": 0}
    if answer.thinking_tokens:
        final_usage["output_tokens_details"] = {"thinking_tokens": answer.thinking_tokens}
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": answer.blocks,
        "stop_reason": answer.stop_reason,
        "stop_sequence": answer.stop_sequence,
        "usage": final_usage,
    }
    if not body.get("stream"):
        await asyncio.sleep(ttft + output / plan.tokens_per_s + answer.searches * SEARCH_MS / 1000)
        return _json(message)
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    return StreamingResponse(
        _events(start, message, answer, ttft, plan.tokens_per_s),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "request-id": _request_id()},
    )


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _pieces(block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A block as ``content_block_start`` shows it, and its deltas (one per token for text and thinking)."""
    kind = block["type"]
    if kind == "text":
        words = block["text"].split(" ") if block["text"] else []
        deltas = [{"type": "text_delta", "text": w if i == 0 else " " + w} for i, w in enumerate(words)]
        return {"type": "text", "text": ""}, deltas
    if kind == "thinking":
        words = block["thinking"].split(" ") if block["thinking"] else []
        deltas = [{"type": "thinking_delta", "thinking": w if i == 0 else " " + w} for i, w in enumerate(words)]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return {"type": "thinking", "thinking": "", "signature": ""}, deltas
    if kind in ("tool_use", "server_tool_use"):
        raw = json.dumps(block["input"])
        cuts = sorted({0, len(raw) // 3, 2 * len(raw) // 3, len(raw)})
        deltas = [{"type": "input_json_delta", "partial_json": raw[a:b]} for a, b in zip(cuts, cuts[1:], strict=False)]
        return {**block, "input": {}}, deltas
    return block, []  # web_search_tool_result: whole in its start event


async def _events(
    start: dict[str, Any], final: dict[str, Any], answer: _Answer, ttft: float, tokens_per_s: float
) -> AsyncIterator[bytes]:
    t0 = time.perf_counter()
    yield _sse({"type": "message_start", "message": start})
    yield _sse({"type": "ping"})
    clock = ttft  # when the next generated token is due, in seconds after t0

    async def until(due: float) -> None:
        delay = t0 + due - time.perf_counter()  # an absolute schedule: sleeping overhead does not accumulate
        if delay > 0:
            await asyncio.sleep(delay)

    for index, block in enumerate(answer.blocks):
        if block["type"] == "web_search_tool_result":
            clock += SEARCH_MS / 1000
        opening, deltas = _pieces(block)
        await until(clock)
        yield _sse({"type": "content_block_start", "index": index, "content_block": opening})
        step = _step(block, deltas, tokens_per_s)
        for delta in deltas:
            await until(clock)
            yield _sse({"type": "content_block_delta", "index": index, "delta": delta})
            clock += step(delta)
        yield _sse({"type": "content_block_stop", "index": index})
    await until(clock)
    delta = {"stop_reason": final["stop_reason"], "stop_sequence": final["stop_sequence"]}
    usage = {k: v for k, v in final["usage"].items() if k not in ("cache_creation", "service_tier")}
    yield _sse({"type": "message_delta", "delta": delta, "usage": usage})
    yield _sse({"type": "message_stop"})


def _step(block: dict[str, Any], deltas: Sequence[dict[str, Any]], tokens_per_s: float) -> Callable[[Any], float]:
    """Seconds each delta of ``block`` takes: one token each for text and thinking, the tool input spread evenly."""
    if block["type"] in ("tool_use", "server_tool_use") and deltas:
        tokens = len(_TOKEN_RE.findall(json.dumps(block["input"])))
        return lambda delta: tokens / len(deltas) / tokens_per_s
    return lambda delta: 0.0 if delta.get("type") == "signature_delta" else 1 / tokens_per_s
