from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_chatbot.telemetry._instrumentation import Uninstrumenter, instrument_fastapi, instrument_httpx
from tests._servers import serve_json

_LOGGER = "otel_chatbot.telemetry._instrumentation"

SECRET = "sk-test-abcdef0123456789SECRET"


def _app() -> FastAPI:
    app = FastAPI(title="probe")

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics/latency")
    async def latency() -> dict[str, str]:
        return {}

    return app


def _all_values(span: ReadableSpan) -> list[str]:
    values = [str(v) for v in (span.attributes or {}).values()]
    values += [str(k) for k in (span.attributes or {})]
    for event in span.events:
        values += [str(v) for v in (event.attributes or {}).values()]
    return values


def test_fastapi_server_span_and_excluded_urls(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    app = _app()
    handle = instrument_fastapi(app, tracer_provider=provider)
    assert isinstance(handle, Uninstrumenter) and handle.active
    with TestClient(app) as client:
        assert client.get("/hello").status_code == 200
        assert client.get("/health").status_code == 200
        assert client.get("/metrics/latency").status_code == 200
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /hello"
    assert span.kind is SpanKind.SERVER
    assert span.parent is None


def test_fastapi_excluded_urls_configurable(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    app = _app()
    instrument_fastapi(app, tracer_provider=provider, excluded_urls=["/hello"])
    with TestClient(app) as client:
        client.get("/hello")
        client.get("/health")
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /health"]


def test_fastapi_excluded_urls_none_traces_everything(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    app = _app()
    instrument_fastapi(app, tracer_provider=provider, excluded_urls=None)
    with TestClient(app) as client:
        client.get("/health")
        client.get("/metrics/latency")
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["GET /health", "GET /metrics/latency"]


def test_fastapi_no_headers_captured_by_default(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    app = _app()
    instrument_fastapi(app, tracer_provider=provider)
    with TestClient(app) as client:
        client.get("/hello", headers={"Authorization": f"Bearer {SECRET}", "Cookie": f"session={SECRET}"})
    (span,) = exporter.get_finished_spans()
    assert not any(SECRET in value for value in _all_values(span))
    assert not any(key.startswith("http.request.header") for key in span.attributes or {})


def test_fastapi_opted_in_headers_are_sanitized(
    provider: TracerProvider, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization,x-request-id")
    app = _app()
    instrument_fastapi(app, tracer_provider=provider)
    with TestClient(app) as client:
        client.get("/hello", headers={"Authorization": f"Bearer {SECRET}", "X-Request-Id": "r-1"})
    (span,) = exporter.get_finished_spans()
    attributes = span.attributes or {}
    assert attributes["http.request.header.x_request_id"] == ("r-1",)
    assert attributes["http.request.header.authorization"] == ("[REDACTED]",)
    assert not any(SECRET in value for value in _all_values(span))


def _streaming_app(chunks: int) -> FastAPI:
    from fastapi.responses import StreamingResponse

    app = FastAPI(title="stream")

    @app.post("/chat")
    async def chat() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(chunks):
                yield f"data: {i}\n\n".encode()

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


@pytest.mark.parametrize("capture", [False, True])
def test_fastapi_asgi_message_spans_only_on_request(
    provider: TracerProvider, exporter: InMemorySpanExporter, capture: bool
) -> None:
    """By default a streamed answer is one SERVER span, not one more span per chunk (the request-path budget)."""
    chunks = 20
    app = _streaming_app(chunks)
    if capture:
        instrument_fastapi(app, tracer_provider=provider, capture_asgi_events=True)
    else:
        instrument_fastapi(app, tracer_provider=provider)
    with TestClient(app) as client:
        response = client.post("/chat", content=b"{}")
    assert response.status_code == 200 and response.text.count("data: ") == chunks
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name == "POST /chat"
    internal = [s for s in spans if s.kind is SpanKind.INTERNAL]
    if not capture:
        assert internal == []
        return
    names = [s.name for s in internal]
    # http.response.start, one http.response.body per chunk and the closing empty body; the request body's receive
    assert names.count("POST /chat http send") >= chunks + 1, names
    assert "POST /chat http receive" in names, names
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in internal)


def test_fastapi_double_instrumentation_warns_and_is_a_noop(
    provider: TracerProvider, exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app()
    first = instrument_fastapi(app, tracer_provider=provider)
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        second = instrument_fastapi(app, tracer_provider=provider)
    assert "already instrumented" in caplog.text
    assert first.active and not second.active
    second.uninstrument()  # must not undo the first
    with TestClient(app) as client:
        client.get("/hello")
    assert len(exporter.get_finished_spans()) == 1  # one server span, not two


def test_fastapi_uninstrument_as_context_manager(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    app = _app()
    with TestClient(app) as client:
        client.get("/hello")  # the app has built its middleware stack before we instrument it
        with instrument_fastapi(app, tracer_provider=provider) as handle:
            client.get("/hello")
        assert not handle.active
        client.get("/hello")
        handle.uninstrument()  # idempotent
    assert len(exporter.get_finished_spans()) == 1
    again = instrument_fastapi(app, tracer_provider=provider)  # reversible means re-instrumentable
    with TestClient(app) as client:
        client.get("/hello")
    again.uninstrument()
    assert len(exporter.get_finished_spans()) == 2


def test_httpx_client_span_nests_under_current_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    client = httpx.Client(transport=httpx.MockTransport(handler), headers={"Authorization": f"Bearer {SECRET}"})
    handle = instrument_httpx(client, tracer_provider=provider)
    with provider.get_tracer("test").start_as_current_span("generation"):
        client.get("http://llm.test/v1/models")
    handle.uninstrument()
    client.get("http://llm.test/v1/models")
    client.close()
    client_span, parent = exporter.get_finished_spans()
    assert client_span.kind is SpanKind.CLIENT
    assert client_span.parent is not None and client_span.parent.span_id == parent.context.span_id
    assert not any(SECRET in value for value in _all_values(client_span))
    assert not any("authorization" in key.lower() for key in client_span.attributes or {})


def test_httpx_client_double_instrumentation_warns(
    provider: TracerProvider, exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(204)))
    first = instrument_httpx(client, tracer_provider=provider)
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        second = instrument_httpx(client, tracer_provider=provider)
    assert "already instrumented" in caplog.text and not second.active
    client.get("http://llm.test/")
    first.uninstrument()
    client.close()
    assert len(exporter.get_finished_spans()) == 1


@pytest.fixture
def loopback_url() -> Iterator[str]:
    with serve_json(lambda path, query, body: (200, "ok")) as url:
        yield f"{url}/"


def test_httpx_global_instrumentation_is_reversible(
    provider: TracerProvider, exporter: InMemorySpanExporter, loopback_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with instrument_httpx(tracer_provider=provider) as handle:
        with caplog.at_level(logging.WARNING, logger=_LOGGER):
            assert not instrument_httpx(tracer_provider=provider).active
        with httpx.Client() as client:
            assert client.get(loopback_url).json() == "ok"
        with (
            httpx.Client() as client,
            caplog.at_level(logging.WARNING, logger=_LOGGER),
        ):
            # Also instrumenting one client would trace its requests twice: a warning and a no-op.
            assert not instrument_httpx(client, tracer_provider=provider).active
            client.get(loopback_url)
    assert not handle.active
    with httpx.Client() as client:
        client.get(loopback_url)
    first, second = exporter.get_finished_spans()
    assert first.kind is SpanKind.CLIENT and second.kind is SpanKind.CLIENT
    assert "already instrumented globally" in caplog.text


@pytest.mark.parametrize(
    ("module", "extra"),
    [("opentelemetry.instrumentation.fastapi", "fastapi"), ("opentelemetry.instrumentation.httpx", "httpx")],
)
def test_missing_extra_is_one_clear_line(module: str, extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError) as info:
        if extra == "fastapi":
            instrument_fastapi(_app())
        else:
            instrument_httpx()
    assert str(info.value) == f"{module} is not installed: pip install 'otel-chatbot[{extra}]'"
    assert "\n" not in str(info.value)


def test_keys_in_query_strings_never_reach_client_spans() -> None:
    import json

    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})))
    with instrument_httpx(client, tracer_provider=provider):
        client.get(
            "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent"
            "?key=AIzaSyA1234567890abcdefghijklmnopqrstu&alt=sse"
        )
    spans = json.dumps([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert "AIzaSyA1234567890" not in spans
    assert "key=[REDACTED]&alt=sse" in spans
