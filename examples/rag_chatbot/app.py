"""The example RAG chatbot: FastAPI, BM25 retrieval, an OpenAI-compatible provider over httpx, SQLite memory.

One ``POST /chat`` request is one trace::

    POST /chat                                  SERVER span (FastAPI instrumentation): the root
    ├── request_parsing                         read and validate the JSON body
    ├── auth_validation                         API key -> tenant
    ├── request_preparation                     everything before the provider is called; chatbot.cache.hit
    │   └── retrieval help-center               BM25 over corpus/
    ├── chat gpt-4o-mini                        generation (usage, cost, time to first token)
    │   ├── backend_ttfb                        request sent -> first byte of the provider's response
    │   │   └── POST                            httpx CLIENT span
    │   └── stream_processing                   first byte -> last byte, parsed and relayed
    └── update_memory                           memory_update: the exchange appended to SQLite

``request_parsing``, ``auth_validation``, ``request_preparation``, ``backend_ttfb`` and ``stream_processing`` are
the request-stage breakdown: together they cover the request, so each one's share of it is meaningful.

Every span costs server CPU on every request (the SDK, the embedded statistics, OTLP encoding: about 0.2 ms each,
BENCHMARKS.md ``request-path``), so the response-cache lookup (a dict lookup) and the history read (one indexed
SQLite query) get no span of their own: their time is ``request_preparation``'s minus ``retrieval``'s, and the cache
outcome is ``request_preparation``'s ``chatbot.cache.hit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from opentelemetry import trace
from opentelemetry.trace import TracerProvider
from pydantic import BaseModel, Field, ValidationError

import otel_chatbot as oc
from examples.rag_chatbot.cache import ResponseCache, cache_key
from examples.rag_chatbot.index import BM25Index, load_corpus
from examples.rag_chatbot.llm import LLMClient, ProviderError
from examples.rag_chatbot.memory import MemoryStore
from examples.rag_chatbot.prompts import VARIANTS, Variant, build_messages, pick_variant
from examples.rag_chatbot.schema import ChatRequest
from examples.rag_chatbot.settings import Settings
from otel_chatbot import semconv, spend

logger = logging.getLogger(__name__)

BREAKDOWN_STAGES = ("request_parsing", "auth_validation", "request_preparation", "backend_ttfb", "stream_processing")
"""The request-stage breakdown of a chat request, in order."""

DATA_SOURCE = "help-center"


class FeedbackRequest(BaseModel):
    """Body of ``POST /feedback``: a score in [-1, 1] (thumbs down .. up) for a trace or a conversation."""

    score: float = Field(ge=-1.0, le=1.0)
    trace_id: str | None = None
    conversation_id: str | None = None
    comment: str | None = Field(default=None, max_length=2000)


@dataclass
class _Prepared:
    conversation_id: str
    variant: Variant
    key: str
    cached_answer: str | None
    messages: list[dict[str, str]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _sse(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _status(exc: ProviderError) -> int:
    """What the app answers when the provider failed: 504 for a timeout, else 502."""
    return 504 if exc.status == 504 else 502


def _trace_id() -> str:
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


class Chatbot:
    """The pipeline's state: index, cache, memory, provider client; one per app."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.index = BM25Index(load_corpus())
        self.cache = ResponseCache(ttl_s=settings.cache_ttl_s)
        self.memory = MemoryStore(settings.db_path)
        # trace id -> the ids of the answer it traced, so feedback on it is attributed to the right A/B variant.
        self.answered: OrderedDict[str, dict[str, str]] = OrderedDict()
        self.llm = LLMClient(
            settings.openai_base_url,
            settings.openai_api_key,
            settings.model,
            provider=settings.provider,
            timeout_s=settings.timeout_s,
            transport=transport,
        )

    def remember_ids(self, trace_id: str, ids: dict[str, str]) -> None:
        self.answered[trace_id] = ids
        while len(self.answered) > 10_000:  # bounded
            self.answered.popitem(last=False)

    def authenticate(self, authorization: str | None) -> str | None:
        """The tenant of a valid ``Authorization: Bearer <key>``, else None (constant time per key)."""
        given = (authorization or "").removeprefix("Bearer ").strip().encode()
        tenant = None
        for key, key_tenant in self.settings.api_keys.items():
            if hmac.compare_digest(given, key.encode()):
                tenant = key_tenant
        return tenant

    async def prepare(self, request: ChatRequest, tenant: str, variant: Variant, conversation_id: str) -> _Prepared:
        key = cache_key(tenant, variant.name, request.message)
        cached = self.cache.get(key)
        if cached is not None:
            return _Prepared(conversation_id, variant, key, cached, [])
        with oc.traced_stage("retrieval", data_source=DATA_SOURCE) as stage:
            hits = self.index.search(request.message, k=self.settings.top_k)
            stage.set_attribute(semconv.GEN_AI_RETRIEVAL_TOP_K, self.settings.top_k)
            stage.set_attribute(semconv.CHATBOT_RETRIEVAL_DOCUMENTS, len(hits))
        history = await asyncio.to_thread(
            self.memory.history, conversation_id, request.user_id, self.settings.history_turns
        )
        return _Prepared(conversation_id, variant, key, None, build_messages(request.message, hits, history, variant))

    async def remember(self, request: ChatRequest, prepared: _Prepared, answer: str) -> None:
        with oc.traced_stage("memory_update"):
            await asyncio.to_thread(
                self.memory.append, prepared.conversation_id, request.user_id, request.message, answer
            )
        if prepared.cached_answer is None and answer and not prepared.messages[1:-1]:
            # Only first questions are cached: later turns depend on the conversation so far.
            self.cache.put(prepared.key, answer)

    async def stream_answer(
        self, request: ChatRequest, prepared: _Prepared, events: asyncio.Queue[bytes | None], meta: dict[str, Any]
    ) -> None:
        """Producer task: runs the whole generation in one task (spans open and close in one context).

        Puts SSE events on ``events``, then None; an error is one ``{"error", "http_status"}`` event.
        """
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        try:
            async for chunk in self.llm.stream(prepared.messages, max_tokens=prepared.variant.max_tokens):
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        events.put_nowait(_sse({"delta": text}))
            answer = "".join(parts)
            await self.remember(request, prepared, answer)
            events.put_nowait(_sse({**meta, "done": True, "cached": False, "usage": usage}))
        except ProviderError as exc:
            logger.warning("%s", exc)
            events.put_nowait(_sse({"error": str(exc), "http_status": _status(exc)}))
        except Exception:
            logger.exception("answering failed")
            events.put_nowait(_sse({"error": "internal error", "http_status": 500}))
        finally:
            events.put_nowait(None)  # always: the response waits for it


def create_app(
    settings: Settings | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    telemetry: oc.Telemetry | None = None,
    instrument: bool = True,
) -> FastAPI:
    """Build the chatbot app, instrumented (FastAPI server spans, httpx client spans of the provider client).

    Args:
        settings: Configuration; from the environment when None.
        tracer_provider: For the FastAPI and httpx spans; the global provider when None.
        transport: httpx transport to the provider (e.g. ``httpx.MockTransport`` in tests).
        telemetry: What ``oc.configure()`` returned; its ``/metrics``, ``/metrics/latency`` and the web view
            (``/otel-chatbot/``) are mounted.
        instrument: Add the FastAPI and httpx instrumentation (False: the benchmark's uninstrumented baseline).
    """
    settings = settings or Settings.from_env()
    bot = Chatbot(settings, transport)
    tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Resolve the model's price now: genai-prices loads its data (~0.1 s) on the first lookup, which would
        # otherwise land inside the first request's generation span.
        spend.default_table().lookup(settings.model, settings.provider)
        yield
        for task in tasks:
            task.cancel()
        await bot.llm.aclose()
        bot.memory.close()

    app = FastAPI(title="rag-chatbot", lifespan=lifespan)
    app.state.bot = bot

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/chat", response_model=None)
    async def chat(request: Request) -> Response:
        with oc.traced_stage("request_parsing"):
            try:
                body = ChatRequest.model_validate_json(await request.body())
            except ValidationError as exc:
                return _error(422, f"invalid request: {exc.errors()[0]['msg']}")
        with oc.traced_stage("auth_validation"):
            tenant = bot.authenticate(request.headers.get("authorization"))
        if tenant is None:
            return _error(401, "missing or invalid API key (Authorization: Bearer <key>)")
        if body.variant is not None and body.variant not in VARIANTS:
            return _error(422, f"unknown variant {body.variant!r}; one of {sorted(VARIANTS)}")
        variant = VARIANTS[body.variant] if body.variant else pick_variant(body.user_id)
        conversation_id = body.conversation_id or f"c-{uuid.uuid4().hex[:16]}"
        meta = {"conversation_id": conversation_id, "trace_id": _trace_id(), "variant": variant.name}
        headers = {"x-trace-id": meta["trace_id"]}
        ids = {
            "conversation_id": conversation_id,
            "user_id": body.user_id,
            "tenant_id": tenant,
            "variant": variant.name,
        }
        bot.remember_ids(meta["trace_id"], ids)
        with oc.conversation(**ids):
            with oc.traced_stage("request_preparation") as stage:
                prepared = await bot.prepare(body, tenant, variant, conversation_id)
                stage.set_attribute(semconv.CHATBOT_CACHE_HIT, prepared.cached_answer is not None)
            if prepared.cached_answer is not None:
                await bot.remember(body, prepared, prepared.cached_answer)
                if not body.stream:
                    return JSONResponse(
                        {**meta, "answer": prepared.cached_answer, "cached": True, "usage": None}, headers=headers
                    )
                return StreamingResponse(
                    _one_shot(
                        [
                            _sse({"delta": prepared.cached_answer}),
                            _sse({**meta, "done": True, "cached": True, "usage": None}),
                        ]
                    ),
                    media_type="text/event-stream",
                    headers=headers,
                )
            if not body.stream:
                try:
                    completion = await bot.llm.complete(prepared.messages, max_tokens=variant.max_tokens)
                except ProviderError as exc:
                    logger.warning("%s", exc)
                    return _error(_status(exc), str(exc))
                answer = str(completion["choices"][0]["message"]["content"] or "")
                await bot.remember(body, prepared, answer)
                return JSONResponse(
                    {**meta, "answer": answer, "cached": False, "usage": completion.get("usage")}, headers=headers
                )
            # Streaming: one producer task runs the generation; the response relays its events. Waiting for the
            # first event turns a provider error before the first byte into a proper 502 instead of a broken stream.
            events: asyncio.Queue[bytes | None] = asyncio.Queue()
            task = asyncio.create_task(bot.stream_answer(body, prepared, events, meta))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        first = await events.get()
        if first is None or first.startswith(b'data: {"error"'):
            await task
            error: dict[str, Any] = json.loads(first[6:]) if first else {"error": "no answer", "http_status": 502}
            return _error(int(error["http_status"]), str(error["error"]))
        return StreamingResponse(_relay(first, events, task), media_type="text/event-stream", headers=headers)

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        try:
            body = FeedbackRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return _error(422, f"invalid feedback: {exc.errors()[0]['msg']}")
        if bot.authenticate(request.headers.get("authorization")) is None:
            return _error(401, "missing or invalid API key (Authorization: Bearer <key>)")
        ids = bot.answered.get(body.trace_id or "", {})
        try:
            with oc.conversation(**ids):
                oc.record_feedback(
                    body.score, comment=body.comment, trace_id=body.trace_id, conversation_id=body.conversation_id
                )
        except ValueError as exc:  # not a trace id
            return _error(422, f"invalid feedback: {exc}")
        return JSONResponse({"recorded": True})

    if instrument:
        oc.instrument_fastapi(app, tracer_provider=tracer_provider)
        oc.instrument_httpx(bot.llm.http, tracer_provider=tracer_provider)
    if telemetry is not None:
        telemetry.mount(app)
        if telemetry.stats is not None:  # the web view at /otel-chatbot/ (loopback demo; dependencies= protect it)
            telemetry.mount_ui(app)  # it reads the embedded statistics: none with configure(embedded=False)
    return app


async def _one_shot(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def _relay(first: bytes, events: asyncio.Queue[bytes | None], task: asyncio.Task[None]) -> AsyncIterator[bytes]:
    try:
        yield first
        while (item := await events.get()) is not None:
            yield item
    finally:
        if not task.done():  # the client went away: stop generating
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
