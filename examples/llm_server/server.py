"""A local OpenAI-compatible chat server with realistic, configurable and seeded latency, usage and failures.

It answers ``POST /v1/chat/completions`` (JSON or SSE streaming, ``stream_options.include_usage``), ``GET /v1/models``
and ``GET /health`` the way the OpenAI API does, including ``usage.prompt_tokens_details.cached_tokens`` (a prefix
cache: prompts of at least ``cache_min_tokens`` tokens reuse previously seen prefixes in 128-token blocks). Latency
is drawn per request: a log-normal time to first token (plus prefill time per uncached prompt token), a normal
tokens-per-second rate and rare slow outliers. Errors (429, 500) and hangs are injected at configurable rates.

Everything random comes from ``random.Random`` seeded with ``seed`` and the request's arrival number, and the
answer text from ``seed`` and the prompt, so a run with the same seed and request order is the same run.

More of the OpenAI API (``openai_chat``, ``openai_responses``, ``openai_embeddings``), each switch as the request asks:

- ``n`` > 1: several choices, each its own answer; ``usage.completion_tokens`` counts them all. A choice cut by
  ``max_tokens`` / ``max_completion_tokens`` finishes with ``length`` (else ``stop``); with ``n`` > 1 and a token
  limit the LAST choice is long-winded and always runs into it, so such a request deterministically mixes ``stop``
  and ``length``. Streams interleave the choices' deltas (one choice index per chunk) and send each choice's
  ``finish_reason`` chunk when that choice ends.
- ``response_format``: ``json_schema`` answers with a JSON instance of the schema (``$ref``/``$defs``, ``anyOf``,
  ``enum``, arrays, nested objects), ``json_object`` with ``{"answer": "..."}``, so ``chat.completions.parse`` works.
- ``tools``: unless ``tool_choice`` is ``"none"``, the model calls a tool when ``tool_choice`` names one or is
  ``"required"``, or (``"auto"``/absent) when the last message is the user's; arguments are a JSON instance of the
  function's ``parameters``; ``finish_reason`` is ``tool_calls``; streams send OpenAI's ``tool_calls`` deltas.
- Reasoning models (names starting ``o<digit>`` or ``gpt-5``): ``completion_tokens_details.reasoning_tokens`` is
  ``reasoning_tokens`` at ``reasoning_effort`` ``medium`` (the default), a quarter at ``low``, four times at ``high``,
  none at ``minimal``/``none`` (per choice; the token limit applies to the visible answer only); they take
  ``reasoning tokens / tokens_per_s`` before the first text. Chat streams
  send that reasoning as deltas only when ``reasoning_stream`` names the delta key (``reasoning_content`` as
  DeepSeek/vLLM, ``reasoning`` as OpenRouter; OpenAI itself streams none); the Responses API sends reasoning summary
  events when the request asks for ``reasoning.summary``.
- ``modalities: ["text", "audio"]``: the answer is ``message.audio`` (``transcript`` and base64 ``data``, streamed as
  ``delta.audio``) with ``completion_tokens_details.audio_tokens`` (``audio_tokens_per_token`` per transcript token)
  and ``text_tokens`` (the transcript); ``input_audio`` content parts count as ``prompt_tokens_details.audio_tokens``
  (one per 64 characters of base64 data, part of ``prompt_tokens``).
- ``report_cache_writes``: ``prompt_tokens_details.cache_write_tokens`` (Responses:
  ``input_tokens_details.cache_write_tokens``), the prompt tokens newly written to the prefix cache.
- Provider-reported cost, OpenRouter style: ``usage.cost`` (USD at ``cost_input_mtok`` / ``cost_output_mtok``) when
  ``report_cost`` is set, the request has the header ``X-Report-Cost: true`` or the body ``usage: {"include": true}``.
- ``POST /v1/responses``: the Responses API (``input`` as a string or messages, ``instructions``,
  ``max_output_tokens`` giving status ``incomplete``, ``reasoning``), JSON or SSE with OpenAI's event sequence.
- ``POST /v1/embeddings``: one vector per input (``dimensions``, ``encoding_format`` ``float`` or ``base64``),
  ``usage.prompt_tokens`` only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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
    reasoning_tokens: int = 64
    """Reasoning tokens of a reasoning model at ``reasoning_effort`` medium."""
    reasoning_stream: str = "none"
    """Chat stream delta key carrying reasoning text (``reasoning_content`` or ``reasoning``); ``none`` sends none."""
    audio_tokens_per_token: int = 3
    """Output audio tokens per transcript token when ``modalities`` asks for audio."""
    report_cache_writes: bool = False
    """Report ``cache_write_tokens`` (prompt tokens newly written to the prefix cache)."""
    report_cost: bool = False
    """Always report ``usage.cost`` (OpenRouter style); requests may ask for it with ``X-Report-Cost: true``."""
    cost_input_mtok: float = 0.2
    """USD per 1M prompt tokens of the reported ``usage.cost``."""
    cost_output_mtok: float = 0.8
    """USD per 1M completion tokens of the reported ``usage.cost``."""


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
        return self.lookup_and_write(tokens, min_tokens)[0]

    def lookup_and_write(self, tokens: Sequence[str], min_tokens: int) -> tuple[int, int]:
        """Tokens read from the cache and tokens newly written to it."""
        if len(tokens) < min_tokens:
            return 0, 0
        digest = hashlib.sha256()
        cached = 0
        written = 0
        still_cached = True
        for end in range(_CACHE_BLOCK, len(tokens) + 1, _CACHE_BLOCK):
            digest.update("\x00".join(tokens[end - _CACHE_BLOCK : end]).encode())
            key = digest.copy().digest()
            if still_cached and key in self._seen:
                cached = end
                self._seen.move_to_end(key)
            else:
                still_cached = False
                if key not in self._seen:
                    written += _CACHE_BLOCK
                self._seen[key] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return cached, written


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

    def prompt_usage(self, messages: list[Any]) -> tuple[int, int, int]:
        """Prompt tokens, those read from the prefix cache, and those newly written to it (updates the cache)."""
        tokens: list[str] = []
        for message in messages:
            role = str(message.get("role", "")) if isinstance(message, dict) else ""
            # ~4 tokens of per-message framing, as OpenAI's chat format.
            tokens.extend(["<|im_start|>", role, "<|sep|>", *_TOKEN_RE.findall(_message_text(message)), "<|im_end|>"])
        tokens.extend(["<|im_start|>", "assistant", "<|sep|>"])
        cached, written = self._cache.lookup_and_write(tokens, self.config.cache_min_tokens)
        return len(tokens), cached, written

    def usage(self, messages: list[Any], completion_tokens: int) -> tuple[dict[str, Any], int]:
        """OpenAI-shaped usage and the number of uncached prompt tokens."""
        prompt_tokens, cached, _written = self.prompt_usage(messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        return usage, prompt_tokens - cached


def error_response(
    status: int, message: str, type_: str, code: str | None, headers: dict[str, str] | None = None
) -> Response:
    """An OpenAI error body."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _mask(key: str) -> str:
    return key[:3] + "*" * 8 + key[-4:] if len(key) > 8 else "*" * 8


def check_auth(llm: LLMServer, request: Request) -> Response | None:
    """OpenAI's 401 when the server wants an API key and the request lacks the right one; else None."""
    expected = llm.config.api_key
    if expected is None:
        return None
    header = request.headers.get("authorization", "")
    given = header.removeprefix("Bearer ").strip()
    if given == expected:
        return None
    if not given:
        return error_response(401, "You didn't provide an API key.", "invalid_request_error", None)
    return error_response(
        401, f"Incorrect API key provided: {_mask(given)}.", "invalid_request_error", "invalid_api_key"
    )


async def openai_request(request: Request) -> tuple[LLMServer, Any] | Response:
    """The server and the JSON body of an OpenAI request, or the error response (401 or 400) to send instead."""
    llm: LLMServer = request.app.state.llm
    if (denied := check_auth(llm, request)) is not None:
        return denied
    try:
        return llm, await request.json()
    except ValueError:
        return error_response(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)


def create_app(config: ServerConfig | None = None) -> Starlette:
    """The ASGI app; ``app.state.llm`` is the :class:`LLMServer` (tests read its config and counters).

    Plain Starlette: the stand-in provider emits no telemetry of its own, as a real provider's spans never reach you.
    """
    from examples.llm_server import openai_chat, openai_embeddings, openai_responses  # they import this module
    from examples.llm_server.anthropic_api import anthropic_routes

    llm = LLMServer(config or ServerConfig())

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(request: Request) -> Response:
        if (denied := check_auth(llm, request)) is not None:
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

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/models", models),
            Route("/v1/chat/completions", openai_chat.chat_completions, methods=["POST"]),
            Route("/v1/responses", openai_responses.responses, methods=["POST"]),
            Route("/v1/embeddings", openai_embeddings.embeddings, methods=["POST"]),
            *anthropic_routes(llm),
            *gemini_routes(llm),
        ]
    )
    app.state.llm = llm
    return app
