from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from examples.llm_server import ServerConfig
from examples.llm_server import create_app as create_llm_app
from examples.rag_chatbot.app import create_app
from examples.rag_chatbot.settings import Settings
from tests._http import eventually
from tests._servers import serve_asgi, stop_process

APP_KEY = "demo-acme"
PROVIDER_KEY = "sk-provider-test-0123456789SECRET"
# Fast but not instant: 60 ms to the first token, ~20 tokens at 400 tokens/s.
LLM = ServerConfig(
    ttft_ms=60.0, ttft_sigma=0.1, tokens_per_s=400.0, tokens_per_s_sd=0.0, outlier_rate=0.0, output_tokens_median=20
)


ROOT = Path(__file__).resolve().parents[3]


class Process:
    """A ``python -m`` module started with ``--port 0 --port-file``; stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, module: str, args: Sequence[str], tmp: Path, env: dict[str, str] | None = None) -> None:
        self.port_file = tmp / f"{module}.port"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", "--port-file", str(self.port_file), *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_port(self) -> int:
        def port() -> int | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode}: {self.proc.communicate()[1]}")
            return int(self.port_file.read_text()) if self.port_file.exists() else None

        found = eventually(port, timeout=30, interval=0.05)  # bounded: a loaded machine may take a while
        assert found is not None, "no port file"
        return found

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        """Wait for the exit (without signalling); (exit code, stderr)."""
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def stop(self) -> tuple[int, str]:
        err = stop_process(self.proc)
        return self.proc.returncode, err or ""


@contextlib.contextmanager
def llm_url(config: ServerConfig = LLM) -> Iterator[str]:
    """The local LLM server, really listening; yields its ``/v1`` base URL."""
    with serve_asgi(create_llm_app(config)) as url:
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
