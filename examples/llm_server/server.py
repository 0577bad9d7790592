"""A local OpenAI-compatible chat server with realistic, configurable and seeded latency, usage and failures.

It answers ``POST /v1/chat/completions`` (JSON or SSE streaming, ``stream_options.include_usage``), ``GET /v1/models``
and ``GET /health`` the way the OpenAI API does, including ``usage.prompt_tokens_details.cached_tokens`` (a prefix
cache: prompts of at least ``cache_min_tokens`` tokens reuse previously seen prefixes in 128-token blocks). Latency
is drawn per request: a log-normal time to first token (plus prefill time per uncached prompt token), a normal
tokens-per-second rate and rare slow outliers. Errors (429, 500) and hangs are injected at configurable rates.

Everything random comes from ``random.Random`` seeded with ``seed`` and the request's arrival number, and the
answer text from ``seed`` and the prompt, so a run with the same seed and request order is the same run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import random
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from examples.llm_server.gemini_api import gemini_routes

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_CACHE_BLOCK = 128
_FILLER = (
    "the",
    "you",
    "can",
    "your",
    "account",
    "in",
    "settings",
    "to",
    "a",
    "and",
    "of",
    "is",
    "this",
    "when",
    "we",
    "recommend",
    "check",
    "that",
    "for",
    "it",
    "on",
    "with",
    "then",
    "as",
    "per",
    "documentation",
    "steps",
)


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Latency, usage and failure settings; every duration in milliseconds."""

    seed: int = 7
    model: str = "gpt-4o-mini"
    ttft_ms: float = 350.0
    """Median time to first token."""
    ttft_sigma: float = 0.35
    """Log-normal sigma of the time to first token."""
    prefill_ms_per_token: float = 0.05
    """Extra time to first token per uncached prompt token."""
    tokens_per_s: float = 90.0
    tokens_per_s_sd: float = 15.0
    output_tokens_median: int = 60
    outlier_rate: float = 0.02
    """Share of requests whose time to first token is multiplied by ``outlier_factor``."""
    outlier_factor: float = 6.0
    error_429_rate: float = 0.0
    error_500_rate: float = 0.0
    timeout_rate: float = 0.0
    """Share of requests that hang for ``hang_s`` before answering (the client should time out first)."""
    hang_s: float = 30.0
    cache_min_tokens: int = 1024
    """Prompts shorter than this are never served from the prompt cache (as OpenAI)."""
    api_key: str | None = None
    """When set, requests must carry ``Authorization: Bearer <api_key>`` or get OpenAI's 401."""


def count_tokens(text: str) -> int:
    """Approximate tokenizer: words and punctuation marks."""
    return len(_TOKEN_RE.findall(text))


def _message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class _PrefixCache:
    """Which 128-token prompt prefixes were seen; bounded, oldest forgotten first."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._capacity = capacity

    def lookup_and_add(self, tokens: Sequence[str], min_tokens: int) -> int:
        if len(tokens) < min_tokens:
            return 0
        digest = hashlib.sha256()
        cached = 0
        still_cached = True
        for end in range(_CACHE_BLOCK, len(tokens) + 1, _CACHE_BLOCK):
            digest.update("\x00".join(tokens[end - _CACHE_BLOCK : end]).encode())
            key = digest.copy().digest()
            if still_cached and key in self._seen:
                cached = end
                self._seen.move_to_end(key)
            else:
                still_cached = False
                self._seen[key] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return cached


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What one request will do, drawn up front from its seeded generator."""

    outcome: str  # "ok" | "429" | "500" | "hang"
    ttft_s: float
    tokens_per_s: float
    words: tuple[str, ...]
    response_id: str


class LLMServer:
    """The server's state: configuration, request counter, prefix cache."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._requests = 0
        self._cache = _PrefixCache()

    def plan(self, messages: list[Any], max_tokens: int | None) -> _Plan:
        """Draw this request's outcome, time to first token (without prefill), rate and answer."""
        cfg = self.config
        self._requests += 1
        rng = random.Random(f"{cfg.seed}:{self._requests}")
        draw = rng.random()
        outcome = "ok"
        for name, rate in (("429", cfg.error_429_rate), ("500", cfg.error_500_rate), ("hang", cfg.timeout_rate)):
            if draw < rate:
                outcome = name
                break
            draw -= rate
        ttft = rng.lognormvariate(math.log(max(cfg.ttft_ms, 0.001)), cfg.ttft_sigma) / 1000
        if rng.random() < cfg.outlier_rate:
            ttft *= cfg.outlier_factor
        tps = max(1.0, rng.gauss(cfg.tokens_per_s, cfg.tokens_per_s_sd))
        text_rng = random.Random(f"{cfg.seed}:" + json.dumps(messages, sort_keys=True, default=str))
        n_out = max(4, int(text_rng.lognormvariate(math.log(max(cfg.output_tokens_median, 1)), 0.4)))
        if max_tokens is not None:
            n_out = max(1, min(n_out, max_tokens))
        prompt_words = [w for w in _TOKEN_RE.findall(_message_text(messages[-1])) if w.isalpha()] if messages else []
        vocabulary = tuple(prompt_words) + _FILLER
        words = tuple(text_rng.choice(vocabulary) for _ in range(n_out))
        response_id = f"chatcmpl-{rng.getrandbits(96):024x}"
        return _Plan(outcome, ttft, tps, words, response_id)

    def usage(self, messages: list[Any], completion_tokens: int) -> tuple[dict[str, Any], int]:
        """OpenAI-shaped usage and the number of uncached prompt tokens."""
        tokens: list[str] = []
        for message in messages:
            role = str(message.get("role", "")) if isinstance(message, dict) else ""
            # ~4 tokens of per-message framing, as OpenAI's chat format.
            tokens.extend(["<|im_start|>", role, "<|sep|>", *_TOKEN_RE.findall(_message_text(message)), "<|im_end|>"])
        tokens.extend(["<|im_start|>", "assistant", "<|sep|>"])
        cached = self._cache.lookup_and_add(tokens, self.config.cache_min_tokens)
        usage = {
            "prompt_tokens": len(tokens),
            "completion_tokens": completion_tokens,
            "total_tokens": len(tokens) + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        return usage, len(tokens) - cached


def _error(status: int, message: str, type_: str, code: str | None, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _mask(key: str) -> str:
    return key[:3] + "*" * 8 + key[-4:] if len(key) > 8 else "*" * 8


def create_app(config: ServerConfig | None = None) -> Starlette:
    """The ASGI app; ``app.state.llm`` is the :class:`LLMServer` (tests read its config and counters).

    Plain Starlette: the stand-in provider emits no telemetry of its own, as a real provider's spans never reach you.
    """
    llm = LLMServer(config or ServerConfig())

    def check_auth(request: Request) -> Response | None:
        expected = llm.config.api_key
        if expected is None:
            return None
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip()
        if given == expected:
            return None
        if not given:
            return _error(401, "You didn't provide an API key.", "invalid_request_error", None)
        return _error(401, f"Incorrect API key provided: {_mask(given)}.", "invalid_request_error", "invalid_api_key")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(request: Request) -> Response:
        if (denied := check_auth(request)) is not None:
            return denied
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": llm.config.model,
                        "object": "model",
                        "created": 1_700_000_000,
                        "owned_by": "otel-chatbot-local",
                    }
                ],
            }
        )

    async def chat_completions(request: Request) -> Response:
        if (denied := check_auth(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' is a required property", "invalid_request_error", None)
        model = str(body.get("model") or llm.config.model)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        stream = bool(body.get("stream", False))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage", False))

        # Usage first (it updates the prefix cache; the plan's prefill time depends on the uncached tokens).
        plan = llm.plan(messages, max_tokens if isinstance(max_tokens, int) else None)
        usage, uncached = llm.usage(messages, len(plan.words))
        plan = dataclasses.replace(plan, ttft_s=plan.ttft_s + uncached * llm.config.prefill_ms_per_token / 1000)
        if plan.outcome == "429":
            await asyncio.sleep(0.005)
            return _error(
                429,
                f"Rate limit reached for {model} on tokens per min (TPM). Please try again in 1s.",
                "tokens",
                "rate_limit_exceeded",
                headers={"retry-after": "1"},
            )
        if plan.outcome == "500":
            await asyncio.sleep(plan.ttft_s / 2)
            return _error(
                500, "The server had an error while processing your request. Sorry about that!", "server_error", None
            )
        if plan.outcome == "hang":
            await asyncio.sleep(llm.config.hang_s)
            return _error(504, "Gateway timeout.", "server_error", "timeout")

        created = int(time.time())
        # The response starts (headers and first bytes) when the first token is ready, as with OpenAI.
        await asyncio.sleep(plan.ttft_s)
        if not stream:
            await asyncio.sleep(len(plan.words) / plan.tokens_per_s)
            completion = {
                "id": plan.response_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_local",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": " ".join(plan.words), "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            return JSONResponse(completion)
        return StreamingResponse(
            _stream(plan, model, created, usage, include_usage),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            *gemini_routes(llm),
        ]
    )
    app.state.llm = llm
    return app


async def _stream(
    plan: _Plan, model: str, created: int, usage: dict[str, Any], include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
        payload: dict[str, Any] = {
            "id": plan.response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_local",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            payload["usage"] = None
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    # OpenAI's first chunk carries the role and an empty content: a chunk, but not a token.
    yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
    start = time.perf_counter()
    for i, word in enumerate(plan.words):
        # Absolute schedule, so sleeping overhead does not accumulate into a slower rate.
        delay = start + i / plan.tokens_per_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield chunk({"content": word if i == 0 else " " + word}, None)
    yield chunk({}, "stop")
    if include_usage:
        final = {
            "id": plan.response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_local",
            "choices": [],
            "usage": usage,
        }
        yield b"data: " + json.dumps(final).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
