"""A failure in one piece of telemetry work (pricing) loses only that piece: the call's tokens and ids stay."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.spend import _pricing

pytestmark = pytest.mark.usefixtures("tracer_provider")

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 12, "output_tokens": 3, "cache_creation": {"ephemeral_1h_input_tokens": 0}},
}


def test_a_pricing_error_keeps_the_tokens_and_ids(
    span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> float:
        raise ArithmeticError("new price data we cannot read")

    monkeypatch.setattr(_pricing, "cost_usd_float", broken)
    monkeypatch.setenv("OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS", "1")

    @oc.traced_stage("generation", model="claude-haiku-4-5", provider="anthropic")
    def call() -> Any:
        return MESSAGE

    assert call() is MESSAGE
    (span,) = span_exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12 and attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "msg_1"
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert attrs[semconv.CHATBOT_COST_UNKNOWN_MODEL] is True
    assert semconv.GEN_AI_USAGE_COST_AMOUNT not in attrs
    # an SDK's zero for a unit the call did not use is not an attribute (its JSON form gives none either)
    assert semconv.CHATBOT_USAGE_CACHE_WRITE_1H_INPUT_TOKENS not in attrs
