"""The example RAG chatbot with no telemetry code at all: FastAPI, BM25 + embeddings retrieval, the plain openai SDK.

It answers ``POST /chat`` like ``examples/rag_chatbot`` (same corpus, prompts, A/B variants, API keys and SQLite
memory; no response cache) but imports nothing from otel_chatbot and has no decorator. Telemetry comes from outside::

    OTEL_SERVICE_NAME=plain-chatbot OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    OTEL_CHATBOT_METRICS_PORT=9464 OTEL_CHATBOT_REPORT_FILE=report.json \\
    opentelemetry-instrument uvicorn examples.plain_chatbot.app:app --port 8000

With ``otel-chatbot[fastapi,httpx,otlp]`` and ``opentelemetry-instrumentation-genai-openai`` installed, every request
is a trace (FastAPI server span, the openai SDK's ``embeddings`` and ``chat`` spans, their httpx client spans), the
``chat`` and ``embeddings`` calls are priced, and ``http://127.0.0.1:9464/metrics`` serves the embedded statistics.

Configuration: ``OPENAI_BASE_URL`` (default: the local LLM server, ``python -m examples.llm_server``),
``OPENAI_API_KEY``, ``CHATBOT_MODEL``, ``CHATBOT_API_KEYS``, ``CHATBOT_DB`` (see examples/rag_chatbot/settings.py) and
``CHATBOT_EMBEDDINGS_MODEL`` (default ``text-embedding-3-small``; empty: BM25 only, no embeddings call).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from openai import APIError, AsyncOpenAI
from pydantic import ValidationError

from examples.rag_chatbot.index import BM25Index, Hit, load_corpus
from examples.rag_chatbot.memory import MemoryStore
from examples.rag_chatbot.prompts import VARIANTS, build_messages, pick_variant
from examples.rag_chatbot.schema import ChatRequest
from examples.rag_chatbot.settings import Settings, SettingsError

EMBEDDINGS_MODEL = os.environ.get("CHATBOT_EMBEDDINGS_MODEL", "text-embedding-3-small")
CANDIDATES = 8
"""BM25 candidates re-ranked by embedding similarity to the question."""


def _usage(usage: Any) -> dict[str, Any] | None:
    return None if usage is None else dict(usage.model_dump(exclude_none=True))


def _cosine(a: list[float], b: list[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def _sse(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


class Chatbot:
    """Index, memory and the openai client; one per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index = BM25Index(load_corpus())
        self.memory = MemoryStore(settings.db_path)
        self.openai = AsyncOpenAI(
            base_url=settings.openai_base_url, api_key=settings.openai_api_key, timeout=settings.timeout_s
        )

    def tenant(self, authorization: str | None) -> str | None:
        """The tenant of a valid ``Authorization: Bearer <key>``, else None."""
        given = (authorization or "").removeprefix("Bearer ").strip().encode()
        found = None
        for key, tenant in self.settings.api_keys.items():
            if hmac.compare_digest(given, key.encode()):
                found = tenant
        return found

    async def retrieve(self, question: str) -> tuple[list[Hit], dict[str, Any] | None]:
        """BM25 candidates, re-ranked by embedding similarity when an embeddings model is set; (hits, its usage)."""
        hits = self.index.search(question, k=CANDIDATES)
        if not EMBEDDINGS_MODEL or not hits:
            return hits[: self.settings.top_k], None
        texts = [question, *(f"{h.document.title}. {h.document.text}" for h in hits)]
        embedded = await self.openai.embeddings.create(model=EMBEDDINGS_MODEL, input=texts)
        query, *documents = [item.embedding for item in embedded.data]
        ranked = sorted(zip(hits, documents, strict=True), key=lambda pair: -_cosine(query, pair[1]))
        return [hit for hit, _ in ranked[: self.settings.top_k]], _usage(embedded.usage)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; ``app`` below is the one ``uvicorn examples.plain_chatbot.app:app`` serves."""
    bot = Chatbot(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await bot.openai.close()
        bot.memory.close()

    app = FastAPI(title="plain-chatbot", lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/chat", response_model=None)
    async def chat(request: Request) -> Response:
        try:
            body = ChatRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": f"invalid request: {exc.errors()[0]['msg']}"}, status_code=422)
        tenant = bot.tenant(request.headers.get("authorization"))
        if tenant is None:
            return JSONResponse({"error": "missing or invalid API key (Authorization: Bearer <key>)"}, status_code=401)
        if body.variant is not None and body.variant not in VARIANTS:
            return JSONResponse({"error": f"unknown variant {body.variant!r}"}, status_code=422)
        variant = VARIANTS[body.variant] if body.variant else pick_variant(body.user_id)
        conversation_id = body.conversation_id or f"c-{uuid.uuid4().hex[:16]}"
        meta: dict[str, Any] = {"conversation_id": conversation_id, "variant": variant.name}
        settings = bot.settings
        try:
            hits, embeddings_usage = await bot.retrieve(body.message)
            history = await asyncio.to_thread(bot.memory.history, conversation_id, body.user_id, settings.history_turns)
            messages: Any = build_messages(body.message, hits, history, variant)
            meta["embeddings_usage"] = embeddings_usage
            if not body.stream:
                completion = await bot.openai.chat.completions.create(
                    model=settings.model, messages=messages, max_tokens=variant.max_tokens, temperature=0.2
                )
                answer = completion.choices[0].message.content or ""
                await asyncio.to_thread(bot.memory.append, conversation_id, body.user_id, body.message, answer)
                return JSONResponse({**meta, "answer": answer, "usage": _usage(completion.usage)})
            stream = await bot.openai.chat.completions.create(
                model=settings.model,
                messages=messages,
                max_tokens=variant.max_tokens,
                temperature=0.2,
                stream=True,
                stream_options={"include_usage": True},
            )
        except APIError as exc:
            return JSONResponse({"error": f"LLM provider: {exc.message}"}, status_code=502)

        async def relay() -> AsyncIterator[bytes]:
            parts: list[str] = []
            usage = None
            async with stream:
                async for chunk in stream:
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            yield _sse({"delta": choice.delta.content})
            answer = "".join(parts)
            await asyncio.to_thread(bot.memory.append, conversation_id, body.user_id, body.message, answer)
            yield _sse({**meta, "done": True, "usage": _usage(usage)})

        return StreamingResponse(relay(), media_type="text/event-stream")

    return app


def _app_or_exit() -> FastAPI:
    """The app, or one line naming the mistaken variable and exit code 2 (uvicorn would print a traceback)."""
    try:
        return create_app()
    except SettingsError as exc:
        print(f"plain_chatbot: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


app = _app_or_exit()
