"""``OTEL_CHATBOT_SEMCONV_COMPAT``: the current names always; the previous release's names too only when asked."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import _state, semconv
from otel_chatbot.errors import ConfigurationError

pytestmark = pytest.mark.usefixtures("tracer_provider")

ANTHROPIC_MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 100, "cache_creation_input_tokens": 40, "cache_read_input_tokens": 0, "output_tokens": 9},
}


def _generation(exporter: InMemorySpanExporter) -> dict[str, Any]:
    @oc.traced_stage("generation", model="claude-3-5-haiku", provider="anthropic")
    def call() -> Any:
        return ANTHROPIC_MESSAGE

    call()
    (span,) = exporter.get_finished_spans()
    return dict(span.attributes or {})


def test_only_current_names_by_default(span_exporter: InMemorySpanExporter) -> None:
    attrs = _generation(span_exporter)
    assert attrs[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 40
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 140
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] > 0
    assert attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert str(attrs[semconv.CHATBOT_COST_PRICE_VERSION]).startswith("genai-prices==")
    assert semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS not in attrs
    assert semconv.GEN_AI_USAGE_COST not in attrs


def test_legacy_dup_writes_both(span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_CHATBOT_SEMCONV_COMPAT", "legacy/dup")
    _state.reset()
    attrs = _generation(span_exporter)
    assert attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 40
    assert attrs[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 40
    assert attrs[semconv.GEN_AI_USAGE_COST] == attrs[semconv.GEN_AI_USAGE_COST_AMOUNT]


def test_configure_rejects_an_unknown_compat_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_CHATBOT_SEMCONV_COMPAT", "old")
    with pytest.raises(ConfigurationError, match="OTEL_CHATBOT_SEMCONV_COMPAT='old' is not valid; use one of latest"):
        oc.configure(service_name="t", embedded=False)
