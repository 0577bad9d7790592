"""Test helpers for users' own tests: capture the spans otel_chatbot produces, in memory.

Example::

    from otel_chatbot.testing import capture_spans

    with capture_spans() as exporter:
        answer("hi")
    (span,) = exporter.get_finished_spans()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_chatbot._sdk import reset_trace_globals

__all__ = ["capture_spans", "reset_trace_globals"]


@contextlib.contextmanager
def capture_spans() -> Iterator[InMemorySpanExporter]:
    """Install a global TracerProvider that records every span in memory, for the duration of the block.

    Yields:
        The exporter; ``get_finished_spans()`` returns the spans ended so far.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reset_trace_globals()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        reset_trace_globals()
