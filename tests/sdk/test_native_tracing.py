"""The anthropic SDK's own tracing (``anthropic.messages.create`` spans with ``gen_ai.usage.*``): counted once.

Whenever a TracerProvider is installed, the anthropic SDK traces its calls itself. Its span is the innermost
inference span: it is counted (priced from its attributes, the 1-hour cache writes included), and a stage around the
call defers to it (``chatbot.usage.deferred``), keeping its latency. Totals are checked against the SDK's parsed
usage, genai-prices' reading of the raw JSON and its ``calc_price``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import Message
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.spend import Ledger
from tests.sdk._oracle import genai_cost, genai_usage

MODEL = "claude-haiku-4-5"
LONG = " ".join(f"clause {i}: refunds are issued within thirty days of a return request." for i in range(120))


def _system(tag: str) -> list[dict[str, Any]]:
    """Two cache breakpoints (1 h and 5 min) on a prompt of its own: each call writes both (no earlier read)."""
    return [
        {"type": "text", "text": f"{tag} 1h. {LONG}", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": f"{tag} 5m. {LONG}", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
    ]


@pytest.fixture
def tel(tmp_path: Path, span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> Iterator[oc.Telemetry]:
    monkeypatch.delenv("ANTHROPIC_OPEN_TELEMETRY")  # the SDK's default: trace when a provider is installed
    telemetry = oc.configure(
        "native", ledger=str(tmp_path / "usage.db"), span_processors=[SimpleSpanProcessor(span_exporter)]
    )
    yield telemetry
    telemetry.shutdown(timeout=5)


def _call(url: str, tag: str) -> tuple[Message, dict[str, Any]]:
    with anthropic.Anthropic(base_url=url, api_key="test-key", max_retries=0) as client:
        request: dict[str, Any] = {
            "model": MODEL,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "refunds?"}],
            "system": _system(tag),
        }
        raw = client.messages.with_raw_response.create(**request)
        return raw.parse(), raw.http_response.json()


@oc.traced_stage("generation", model=MODEL, provider="anthropic")
def _staged(url: str, tag: str) -> Message:
    return _call(url, tag)[0]


def _sdk_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("anthropic.")]
    return span


def _check_counted_once(tel: oc.Telemetry, tmp_path: Path, raw_json: dict[str, Any], message: Message) -> None:
    oracle = genai_usage(raw_json, "anthropic")
    usage = message.usage
    assert usage.cache_creation is not None and usage.cache_creation.ephemeral_1h_input_tokens > 1024
    total_input = usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    assert total_input == oracle.input_tokens
    expected_cost = genai_cost(oracle, MODEL, "anthropic")
    generation = tel.report().stage("generation")
    assert generation is not None
    assert (generation.input_tokens, generation.output_tokens) == (total_input, usage.output_tokens)
    assert generation.cost_usd == pytest.approx(expected_cost, rel=1e-9)
    assert tel.force_flush(timeout=5)
    ledger = Ledger.open(str(tmp_path / "usage.db"))
    try:
        (row,) = ledger.usage("stage", since=0)
    finally:
        ledger.close()
    assert (row.key, row.calls, row.input_tokens, row.output_tokens) == (
        "generation",
        1,
        total_input,
        usage.output_tokens,
    )
    assert row.cost_usd == pytest.approx(expected_cost, rel=1e-9)


def test_the_sdks_own_span_alone_is_counted(
    tel: oc.Telemetry, tmp_path: Path, llm_url: str, span_exporter: InMemorySpanExporter
) -> None:
    message, raw_json = _call(llm_url, "alone")
    _check_counted_once(tel, tmp_path, raw_json, message)
    attributes = dict(_sdk_span(span_exporter).attributes or {})
    assert attributes[semconv.CHATBOT_STAGE] == "generation"  # implied by gen_ai.operation.name = chat
    assert attributes[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"


def test_a_stage_around_the_call_defers_to_the_sdks_span(
    tel: oc.Telemetry, tmp_path: Path, llm_url: str, span_exporter: InMemorySpanExporter
) -> None:
    message = _staged(llm_url, "staged")
    stage = [s for s in span_exporter.get_finished_spans() if (s.attributes or {}).get(semconv.CHATBOT_STAGE)]
    assert len(stage) == 1 and not stage[0].name.startswith("anthropic.")
    stage_attributes = dict(stage[0].attributes or {})
    assert stage_attributes[semconv.CHATBOT_USAGE_DEFERRED] is True
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in stage_attributes
    sdk = _sdk_span(span_exporter)
    assert sdk.parent is not None and sdk.parent.span_id == stage[0].context.span_id
    assert (sdk.attributes or {})[semconv.CHATBOT_USAGE_STAGE] == "generation"
    usage = message.usage
    raw_like = {"type": "message", "model": message.model, "usage": usage.model_dump()}
    _check_counted_once(tel, tmp_path, raw_like, message)
