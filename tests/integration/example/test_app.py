"""The example chatbot under TestClient, talking to the local LLM server through an ASGI transport."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from examples.llm_server import ServerConfig
from examples.rag_chatbot.app import BREAKDOWN_STAGES
from otel_chatbot import semconv
from tests.integration.example.conftest import (
    APP_KEY,
    LLM,
    PROVIDER_KEY,
    ancestors,
    attrs,
    by_name,
    duration,
    llm_url,
    make_app,
    one,
)


def _chat(client: TestClient, message: str, *, stream: bool = False, user: str = "user-1", **extra: Any) -> Any:
    response = client.post("/chat", json={"message": message, "user_id": user, "stream": stream, **extra})
    assert response.status_code == 200, response.text
    if not stream:
        return response.json()
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1]["done"] is True
    return {**events[-1], "answer": "".join(e.get("delta", "") for e in events)}


def _stage(span: ReadableSpan) -> Any:
    return (span.attributes or {}).get(semconv.CHATBOT_STAGE)


@pytest.mark.parametrize("stream", [False, True])
def test_one_trace_per_request_with_the_documented_shape(
    client: TestClient, span_exporter: InMemorySpanExporter, stream: bool
) -> None:
    data = _chat(client, "How do I reset my password?", stream=stream)
    spans = span_exporter.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {data["trace_id"]}
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "POST /chat" and root.kind is SpanKind.SERVER
    for name in ("request_parsing", "auth_validation", "request_preparation", "chat gpt-4o-mini", "update_memory"):
        assert ancestors(one(spans, name), spans) == ["POST /chat"], name
    assert ancestors(one(spans, "retrieval help-center"), spans) == ["request_preparation", "POST /chat"]
    # The cache lookup and the history read get no span of their own (every span costs CPU on every request).
    assert not {"response_cache", "load_history"} & {s.name for s in spans}
    assert len(spans) == 10  # SERVER, 8 stages, the httpx CLIENT span: bench_request_path's spans per request
    for name in ("backend_ttfb", "stream_processing"):
        assert ancestors(one(spans, name), spans) == ["chat gpt-4o-mini", "POST /chat"], name
    # The provider's HTTP call nests under the generation span (through backend_ttfb).
    (http_call,) = [s for s in spans if s.kind is SpanKind.CLIENT and s.name == "POST"]
    assert ancestors(http_call, spans) == ["backend_ttfb", "chat gpt-4o-mini", "POST /chat"]
    # Stage contract: custom stages are INTERNAL spans named by the stage, with chatbot.stage.
    for name in BREAKDOWN_STAGES:
        span = one(spans, name)
        assert span.kind is SpanKind.INTERNAL and _stage(span) == name
    generation = one(spans, "chat gpt-4o-mini")
    attributes = attrs(generation)
    assert generation.kind is SpanKind.CLIENT and _stage(generation) == "generation"
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 900  # system policy + context
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert attributes[semconv.GEN_AI_USAGE_COST_AMOUNT] > 0
    assert attributes[semconv.GEN_AI_CONVERSATION_ID] == data["conversation_id"]
    assert attributes[semconv.USER_ID] == "user-1"
    assert attributes[semconv.CHATBOT_TENANT_ID] == "acme"
    assert attributes[semconv.CHATBOT_VARIANT] == data["variant"]
    if stream:
        assert attributes[semconv.GEN_AI_REQUEST_STREAM] is True
        assert attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    retrieval = one(spans, "retrieval help-center")
    assert retrieval.kind is SpanKind.CLIENT
    assert attrs(retrieval)[semconv.CHATBOT_RETRIEVAL_DOCUMENTS] == 3


def test_streaming_keeps_the_generation_span_open_until_the_last_byte(
    client: TestClient, span_exporter: InMemorySpanExporter
) -> None:
    data = _chat(client, "How do I export all my notes?", stream=True)
    spans = span_exporter.get_finished_spans()
    generation = one(spans, "chat gpt-4o-mini")
    streaming = one(spans, "stream_processing")
    ttfb = one(spans, "backend_ttfb")
    assert generation.end_time is not None and streaming.end_time is not None and ttfb.end_time is not None
    assert streaming.start_time is not None and generation.start_time is not None
    assert generation.end_time >= streaming.end_time >= streaming.start_time >= ttfb.end_time
    # Every token arrived inside the span: tokens / rate is a lower bound of the streaming time.
    tokens = attrs(generation)[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]
    assert tokens == data["usage"]["completion_tokens"] > 1
    # (half of it: the provider's clock starts before the app has the headers, so a slow hand-over shortens the span)
    assert duration(streaming) >= (tokens - 1) / LLM.tokens_per_s * 1e9 * 0.5
    assert one(spans, "update_memory").start_time >= generation.end_time  # type: ignore[operator]


def test_no_authorization_in_any_span(client: TestClient, span_exporter: InMemorySpanExporter) -> None:
    _chat(client, "Which payment methods do you accept?")
    _chat(client, "Which payment methods do you accept?", stream=True, user="user-2")
    spans = span_exporter.get_finished_spans()
    assert len(spans) > 10
    for span in spans:
        items = dict(span.attributes or {})
        for event in span.events:
            items.update(event.attributes or {})
        for key, value in items.items():
            assert "authorization" not in key.lower(), (span.name, key)
            assert PROVIDER_KEY not in str(value) and APP_KEY not in str(value), (span.name, key)


def test_response_cache_hit_and_miss(client: TestClient, span_exporter: InMemorySpanExporter) -> None:
    first = _chat(client, "What does the Pro plan cost?", user="user-7")
    again = _chat(client, "what does the pro plan   cost?", user="user-7", stream=True)
    assert first["cached"] is False and again["cached"] is True
    assert again["answer"] == first["answer"]
    preparations = by_name(span_exporter.get_finished_spans(), "request_preparation")
    hits = [attrs(s)[semconv.CHATBOT_CACHE_HIT] for s in preparations]
    assert hits == [False, True]
    # A hit calls no provider.
    assert len(by_name(span_exporter.get_finished_spans(), "chat gpt-4o-mini")) == 1
    # Another tenant never gets this tenant's cached answer.
    other = client.post(
        "/chat",
        json={"message": "What does the Pro plan cost?", "user_id": "user-7"},
        headers={"authorization": "Bearer demo-globex"},
    )
    assert other.status_code == 200 and other.json()["cached"] is False


def test_conversation_memory_and_variants(client: TestClient, span_exporter: InMemorySpanExporter) -> None:
    first = _chat(client, "How do I share a folder?", user="user-a")
    second = _chat(
        client, "Can an administrator do that for me?", user="user-a", conversation_id=first["conversation_id"]
    )
    assert second["conversation_id"] == first["conversation_id"]
    bot = client.app.state.bot  # type: ignore[attr-defined]
    assert [t.role for t in bot.memory.history(first["conversation_id"], "user-a")] == ["user", "assistant"] * 2
    assert bot.memory.history(first["conversation_id"], "someone-else") == []  # histories are per user
    # The second turn's prompt carries the first exchange: more input tokens.
    generations = by_name(span_exporter.get_finished_spans(), "chat gpt-4o-mini")
    tokens = [attrs(g)[semconv.GEN_AI_USAGE_INPUT_TOKENS] for g in generations]
    assert tokens[1] > tokens[0]
    variants = {_chat(client, "Is my data encrypted?", user=f"user-{i}", variant=None)["variant"] for i in range(8)}
    assert variants == {"concise", "detailed"}
    assert _chat(client, "Is my data encrypted?", user="user-1", variant="detailed")["variant"] == "detailed"


def test_auth_and_validation_errors(client: TestClient) -> None:
    body = {"message": "hi", "user_id": "u"}
    assert client.post("/chat", json=body, headers={"authorization": "Bearer nope"}).status_code == 401
    assert client.post("/chat", json={"message": "", "user_id": "u"}).status_code == 422
    assert client.post("/chat", content=b"not json").status_code == 422
    assert client.post("/chat", json={**body, "variant": "nope"}).status_code == 422
    assert client.post("/feedback", json={"score": 1.0, "trace_id": "0" * 32}).status_code == 422
    assert client.post("/feedback", json={"score": 3.0}).status_code == 422


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("rate", "status"), [("error_429_rate", 429), ("error_500_rate", 500)])
def test_provider_errors_are_one_line_and_error_spans(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, rate: str, status: int, stream: bool
) -> None:
    with llm_url(ServerConfig(**{**LLM.__dict__, rate: 1.0})) as url:
        app = make_app(tracer_provider, url)
        with TestClient(app, headers={"authorization": f"Bearer {APP_KEY}"}) as client:
            response = client.post("/chat", json={"message": "hi there", "user_id": "u", "stream": stream})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error.startswith(f"LLM provider returned {status}: ") and "\n" not in error
    generation = one(span_exporter.get_finished_spans(), "chat gpt-4o-mini")
    assert generation.status.status_code is StatusCode.ERROR
    assert attrs(generation)[semconv.ERROR_TYPE] == "ProviderError"


def test_bad_provider_key_shows_the_401_never_the_key(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    with llm_url(ServerConfig(**{**LLM.__dict__, "api_key": "sk-the-right-one-0000"})) as url:
        app = make_app(tracer_provider, url)
        with TestClient(app, headers={"authorization": f"Bearer {APP_KEY}"}) as client:
            response = client.post("/chat", json={"message": "hi there", "user_id": "u"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error.startswith("LLM provider returned 401: Incorrect API key provided") and "OPENAI_API_KEY" in error
    assert PROVIDER_KEY not in error
    for span in span_exporter.get_finished_spans():
        assert PROVIDER_KEY not in str(span.to_json())


def test_unreachable_provider_is_one_line(tracer_provider: TracerProvider) -> None:
    from examples._serve import bind

    with bind("127.0.0.1", 0) as sock:  # a free port, closed again: nothing listens there
        port = sock.getsockname()[1]
    app = make_app(tracer_provider, f"http://127.0.0.1:{port}/v1")
    with TestClient(app, headers={"authorization": f"Bearer {APP_KEY}"}) as client:
        response = client.post("/chat", json={"message": "hi there", "user_id": "u"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error.startswith(f"cannot reach the LLM provider at http://127.0.0.1:{port}/v1") and "\n" not in error


def test_provider_timeout_is_a_504(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter) -> None:
    with llm_url(ServerConfig(**{**LLM.__dict__, "timeout_rate": 1.0, "hang_s": 1.5})) as url:
        app = make_app(tracer_provider, url, timeout_s=0.3)
        with TestClient(app, headers={"authorization": f"Bearer {APP_KEY}"}) as client:
            response = client.post("/chat", json={"message": "hi there", "user_id": "u", "stream": True})
    assert response.status_code == 504
    assert "timed out" in response.json()["error"]
    generation = one(span_exporter.get_finished_spans(), "chat gpt-4o-mini")
    assert generation.status.status_code is StatusCode.ERROR


def test_feedback_lands_in_the_rated_trace_with_its_variant(
    client: TestClient, span_exporter: InMemorySpanExporter
) -> None:
    answer = _chat(client, "How do I delete my account?", user="user-9")
    response = client.post(
        "/feedback", json={"score": 1.0, "trace_id": answer["trace_id"], "conversation_id": answer["conversation_id"]}
    )
    assert response.status_code == 200
    (event,) = [
        e for s in span_exporter.get_finished_spans() for e in s.events if e.name == semconv.CHATBOT_FEEDBACK_EVENT
    ]
    assert dict(event.attributes or {}) == {
        semconv.CHATBOT_FEEDBACK_SCORE: 1.0,
        semconv.GEN_AI_CONVERSATION_ID: answer["conversation_id"],
        semconv.CHATBOT_VARIANT: answer["variant"],
    }
    (feedback_span,) = [s for s in span_exporter.get_finished_spans() if s.name == semconv.CHATBOT_FEEDBACK_EVENT]
    assert format(feedback_span.context.trace_id, "032x") == answer["trace_id"]


def test_the_web_view_is_mounted_and_shows_the_apps_requests(llm_base_url: str) -> None:
    import otel_chatbot as oc
    from examples.rag_chatbot.app import create_app
    from examples.rag_chatbot.settings import Settings

    tel = oc.configure("rag-example")
    try:
        config = Settings(openai_base_url=llm_base_url, openai_api_key=PROVIDER_KEY)
        app = create_app(config, tracer_provider=tel.tracer_provider, telemetry=tel)
        with TestClient(app, headers={"authorization": f"Bearer {APP_KEY}"}) as client:
            data = _chat(client, "How do I reset my password?")
            page = client.get("/otel-chatbot/")
            doc = client.get("/otel-chatbot/api/view").json()
    finally:
        tel.shutdown()
    assert page.status_code == 200 and '<main id="page"' in page.text
    assert doc["snapshot"]["requests"]["count"] == 1
    stages = [s["stage"] for s in doc["snapshot"]["stages"]]
    assert set(BREAKDOWN_STAGES) <= set(stages)
    generation = next(s for s in doc["snapshot"]["stages"] if s["stage"] == "generation")
    assert generation["latency"]["slowest_trace_ids"] == [data["trace_id"]]
