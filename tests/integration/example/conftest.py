from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from examples._serve import bind
from examples.llm_server import ServerConfig
from examples.llm_server import create_app as create_llm_app
from examples.rag_chatbot.app import create_app
from examples.rag_chatbot.settings import Settings

APP_KEY = "demo-acme"
PROVIDER_KEY = "sk-provider-test-0123456789SECRET"
# Fast but not instant: 60 ms to the first token, ~20 tokens at 400 tokens/s.
LLM = ServerConfig(
    ttft_ms=60.0, ttft_sigma=0.1, tokens_per_s=400.0, tokens_per_s_sd=0.0, outlier_rate=0.0, output_tokens_median=20
)


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL.

    A real server, so responses really stream (httpx's ASGITransport buffers whole bodies).
    """
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):  # bounded: at most ~5 s
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def llm_url(config: ServerConfig = LLM) -> Iterator[str]:
    """The local LLM server, really listening; yields its ``/v1`` base URL."""
    with serve_in_thread(create_llm_app(config)) as url:
        yield url + "/v1"


def make_app(tracer_provider: TracerProvider, base_url: str, **settings: Any) -> FastAPI:
    config = Settings(openai_base_url=base_url, openai_api_key=PROVIDER_KEY, **settings)
    return create_app(config, tracer_provider=tracer_provider)


@pytest.fixture(scope="module")
def llm_base_url() -> Iterator[str]:
    with llm_url() as url:
        yield url


@pytest.fixture
def client(tracer_provider: TracerProvider, llm_base_url: str) -> Iterator[TestClient]:
    app = make_app(tracer_provider, llm_base_url)
    with TestClient(app, headers={"authorization": f"Bearer {APP_KEY}"}) as test_client:
        yield test_client


def by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = by_name(spans, name)
    return span


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    """Names of the span's ancestors, nearest first."""
    index = {s.context.span_id: s for s in spans}
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in index:
        names.append(index[parent.span_id].name)
        parent = index[parent.span_id].parent
    return names


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes, typed loosely for comparisons."""
    return dict(span.attributes or {})


def duration(span: ReadableSpan) -> int:
    assert span.end_time is not None and span.start_time is not None
    return span.end_time - span.start_time
