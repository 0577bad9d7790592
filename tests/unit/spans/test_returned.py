"""Which returned generators are measured as streams: an LLM stage's, or an SDK's; never an app's own elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv

pytestmark = pytest.mark.usefixtures("tracer_provider")


def test_a_retrieval_stage_returning_its_own_generator_is_not_a_stream(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("retrieval", data_source="faq")
    def retrieve() -> Iterator[str]:
        return (doc for doc in ("a", "b"))

    docs = retrieve()
    (span,) = span_exporter.get_finished_spans()  # ended at the return, not left open until the caller drains it
    assert semconv.GEN_AI_REQUEST_STREAM not in (span.attributes or {})
    assert list(docs) == ["a", "b"]
    assert len(span_exporter.get_finished_spans()) == 1


def test_a_generation_stage_returning_a_generator_is_measured_over_its_iteration(
    span_exporter: InMemorySpanExporter,
) -> None:
    def chunks() -> Iterator[dict[str, Any]]:
        yield {"object": "chat.completion.chunk", "id": "c1", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
        yield {
            "object": "chat.completion.chunk",
            "id": "c1",
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1},
        }

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def generate() -> Iterator[dict[str, Any]]:
        return chunks()

    stream = generate()
    assert span_exporter.get_finished_spans() == ()
    assert len(list(stream)) == 2
    (span,) = span_exporter.get_finished_spans()
    attrs: dict[str, Any] = dict(span.attributes or {})
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is True
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert attrs[semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN] > 0
