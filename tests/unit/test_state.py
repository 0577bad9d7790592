"""The one process state: configure() fills it, a failed configure() leaves it alone, reset() empties it."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import _state, semconv
from otel_chatbot._state import STATE, ContentSettings


def _is_fresh() -> bool:
    # (a function: mypy would keep STATE's attributes narrowed across reset())
    return (STATE.installed, STATE.budget_guard, STATE.prices, STATE.content) == (None, None, None, ContentSettings())


def test_a_fresh_state_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _is_fresh()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("OTEL_CHATBOT_MAX_CONTENT_LENGTH", "64")
    _state.reset()
    assert (STATE.content.capture_content, STATE.content.max_content_length) == (True, 64)


def test_configure_fills_the_state_and_reset_empties_it() -> None:
    exporter = InMemorySpanExporter()
    tel = oc.configure(
        "bot",
        capture_content=True,
        max_content_length=100,
        prices={"acme-llm": {"input": 1, "output": 2}},
        budgets=[oc.Budget(limit_usd=1)],
        span_processors=[SimpleSpanProcessor(exporter)],
    )
    installed = STATE.installed
    assert installed is not None and installed.provider is tel.tracer_provider is trace.get_tracer_provider()
    assert installed.fan_out.processors == tel._processors
    assert STATE.content.capture_content and STATE.content.max_content_length == 100
    assert STATE.prices is not None and STATE.prices.lookup("acme-llm") is not None
    assert STATE.budget_guard is not None and STATE.budget_guard.budgets == (oc.Budget(limit_usd=1),)

    _state.reset()
    assert _is_fresh()
    assert installed.fan_out.processors == ()  # detached: the provider, still global here, feeds nothing of ours

    @oc.traced_stage("retrieval")
    def retrieve() -> None:
        return None

    retrieve()
    assert exporter.get_finished_spans() == ()
    tel.shutdown()


def test_a_failed_configure_changes_nothing() -> None:
    tel = oc.configure("bot", embedded=False, capture_content=True, prices={"acme-llm": {"input": 1, "output": 2}})
    before = (STATE.installed, STATE.content, STATE.prices, STATE.budget_guard)
    processors = STATE.installed.fan_out.processors if STATE.installed else None
    for bad in (
        {"max_content_length": 0},
        {"endpoint": "not a url"},
        {"prices": {"acme-llm": {"input": -1, "output": 1}}},
    ):
        with pytest.raises(oc.ConfigurationError):
            oc.configure("bot", **bad)
    assert (STATE.installed, STATE.content, STATE.prices, STATE.budget_guard) == before
    assert STATE.installed is not None and STATE.installed.fan_out.processors == processors
    tel.shutdown()


def test_a_new_price_table_reprices_decorated_calls(span_exporter: InMemorySpanExporter) -> None:
    trace.set_tracer_provider(provider := TracerProvider())
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))

    @oc.traced_stage("generation", model="acme-llm")
    def generate() -> dict[str, object]:
        return {"usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0}}

    generate()  # unknown model: no cost
    tel = oc.configure("bot", embedded=False, prices={"acme-llm": {"input": 3, "output": 1}})
    generate()  # the Spec's cached price is dropped: the table changed
    tel.shutdown()
    first, second = ((s.attributes or {}) for s in span_exporter.get_finished_spans())
    assert first.get(semconv.CHATBOT_COST_UNKNOWN_MODEL) is True and semconv.GEN_AI_USAGE_COST_AMOUNT not in first
    assert second[semconv.GEN_AI_USAGE_COST_AMOUNT] == 3.0
    provider.shutdown()
