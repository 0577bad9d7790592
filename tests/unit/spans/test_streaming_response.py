"""A FastAPI StreamingResponse over a decorated async generator keeps the stage span open until the body is sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv

pytestmark = pytest.mark.usefixtures("tracer_provider")


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
async def stream_answer(question: str) -> AsyncIterator[str]:
    yield ""  # role-only / keep-alive: not the first token
    for word in ("Refunds ", "take ", "five ", "days."):
        await asyncio.sleep(0.01)
        yield word


def _app(body_sends: list[int]) -> Any:
    app = FastAPI()

    @app.get("/chat")
    async def chat(q: str) -> StreamingResponse:
        with oc.conversation(conversation_id="c-1", user_id="u-1"):
            return StreamingResponse(stream_answer(q), media_type="text/plain")

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: MutableMapping[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and message.get("body"):
                body_sends.append(time.time_ns())

        tracer = trace.get_tracer("test")
        if scope["type"] == "http":
            with tracer.start_as_current_span("GET /chat", kind=trace.SpanKind.SERVER):
                await app(scope, receive, recording_send)
        else:
            await app(scope, receive, send)

    return asgi


def test_span_stays_open_until_the_last_byte(span_exporter: InMemorySpanExporter) -> None:
    body_sends: list[int] = []
    with TestClient(_app(body_sends)) as client:
        response = client.get("/chat", params={"q": "refunds?"})
    assert response.text == "Refunds take five days."
    spans = span_exporter.get_finished_spans()
    (chat,) = [s for s in spans if s.name == "chat gpt-4o-mini"]
    assert chat.end_time is not None and chat.start_time is not None
    assert len(body_sends) == 4
    assert chat.end_time >= body_sends[-1]  # ended after the last chunk went out, not when the endpoint returned
    # Its parent is the span current where the generator was CALLED (inside the endpoint), though that span ended
    # before streaming began; and it belongs to the request's trace.
    assert chat.parent is not None
    (parent,) = [s for s in spans if s.context.span_id == chat.parent.span_id]
    assert parent.end_time is not None and parent.end_time <= body_sends[0]
    assert any(s.name == "GET /chat" and s.context.trace_id == chat.context.trace_id for s in spans)
    attrs = chat.attributes or {}
    assert attrs[semconv.GEN_AI_CONVERSATION_ID] == "c-1"  # ids of the call, though the block had exited
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(ttfc, float) and ttfc >= 0.01
