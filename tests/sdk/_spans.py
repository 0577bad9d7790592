"""The spans a real-SDK test reads: the one span it made, or its stage spans among an SDK's own."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_chatbot import semconv


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one finished span (a test that made two fails here, naming them)."""
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def only_attrs(exporter: InMemorySpanExporter) -> dict[str, Any]:
    """The attributes of the one finished span."""
    return dict(only_span(exporter).attributes or {})


def stage_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Our stage spans only: the anthropic SDK records spans of its own (``anthropic.messages.create``) too."""
    return [s for s in exporter.get_finished_spans() if s.attributes and semconv.CHATBOT_STAGE in s.attributes]


def only_stage_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one stage span."""
    ours = stage_spans(exporter)
    assert len(ours) == 1, [s.name for s in ours]
    return ours[0]
