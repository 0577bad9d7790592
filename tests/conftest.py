from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_chatbot import _state
from otel_chatbot.testing import reset_trace_globals
from tests.integration.stack.fixtures import stack, stack_binaries  # noqa: F401  (ONE real stack per session, for every folder)

_ENV_PREFIXES = ("OTEL_", "OTEL_CHATBOT_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTEL_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _reset_globals() -> Iterator[None]:
    """Each test starts with no configure() state, default settings and no global TracerProvider."""
    yield
    _state.reset()
    reset_trace_globals()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A global SDK TracerProvider recording every span in memory; the globals are reset afterwards."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    reset_trace_globals()
    trace.set_tracer_provider(provider)
    yield provider
    provider.shutdown()
    reset_trace_globals()
