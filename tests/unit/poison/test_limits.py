"""``configure(max_attribute_length=...)``: every attribute value, status description and span name is bounded and
valid UTF-8 at the source (issue 13, item 2: a 1,000,000-character stack trace went out untruncated)."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import _losses, _sanitize, _values
from otel_chatbot.errors import ConfigurationError


def _configure(exporter: InMemorySpanExporter, **kwargs: object) -> oc.Telemetry:
    return oc.configure("limits", embedded=False, span_processors=[SimpleSpanProcessor(exporter)], **kwargs)  # type: ignore[arg-type]


def _longest(span: ReadableSpan) -> int:
    values: list[object] = [span.name, span.status.description or ""]
    values += list((span.attributes or {}).values())
    for event in span.events:
        values += list((event.attributes or {}).values())
    return max(len(v) for v in values if isinstance(v, str))


@oc.traced_stage("generation", model="m")
def _fails(message: str) -> None:
    raise ValueError(message)


def test_a_million_character_exception_is_cut_everywhere_to_the_default_limit() -> None:
    exporter = InMemorySpanExporter()
    tel = _configure(exporter)
    with pytest.raises(ValueError, match="^x{1000000}$"):  # the user's exception is untouched
        _fails("x" * 1_000_000)
    tel.shutdown()
    (span,) = exporter.get_finished_spans()
    assert _longest(span) == 16384
    assert span.status.description is not None and span.status.description.startswith("ValueError: xxx")
    (event,) = span.events
    assert event.attributes is not None
    assert len(str(event.attributes["exception.stacktrace"])) == 16384


def test_the_sdk_span_limits_bound_other_instrumentations_spans_too() -> None:
    exporter = InMemorySpanExporter()
    tel = _configure(exporter, max_attribute_length=100)
    tracer = trace.get_tracer("someone-else")
    with tracer.start_as_current_span("theirs") as span:
        span.set_attribute("big", "y" * 5000)
        span.set_attribute("seq", ["z" * 5000])
        span.add_event("e", {"k": "w" * 5000})
    tel.shutdown()
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes is not None
    assert len(str(finished.attributes["big"])) == 100
    seq = finished.attributes["seq"]
    assert isinstance(seq, tuple) and [len(str(v)) for v in seq] == [100]
    assert finished.events[0].attributes is not None and len(str(finished.events[0].attributes["k"])) == 100
    assert _values.max_attribute_length() == 100  # and at export, for what the SDK does not bound


def test_a_second_configure_changes_the_limit_of_the_provider_in_place() -> None:
    exporter = InMemorySpanExporter()
    _configure(InMemorySpanExporter(), max_attribute_length=100)
    tracer = trace.get_tracer("bound-before")
    tel = _configure(exporter, max_attribute_length=10)
    with tracer.start_as_current_span("s") as span:
        span.set_attribute("a", "q" * 50)
    tel.shutdown()
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes is not None and finished.attributes["a"] == "q" * 10


def test_the_standard_variables_set_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "50")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "20")
    exporter = InMemorySpanExporter()
    tel = _configure(exporter)
    with trace.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("a", "q" * 500)
        span.add_event("e", {"k": "w" * 500})
    tel.shutdown()
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes is not None and len(str(finished.attributes["a"])) == 20
    assert finished.events[0].attributes is not None and len(str(finished.events[0].attributes["k"])) == 50


@pytest.mark.parametrize("bad", [0, -5, 2.5, "10"])
def test_a_non_positive_limit_is_a_configuration_error_naming_the_setting(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_attribute_length"):
        oc.configure("limits", embedded=False, max_attribute_length=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"])
def test_an_invalid_variable_is_a_configuration_error_naming_it(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0")
    with pytest.raises(ConfigurationError, match=name):
        oc.configure("limits", embedded=False)


def test_ids_and_attributes_are_valid_utf8_and_bounded_at_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    dropped: list[tuple[str, str]] = []
    monkeypatch.setattr(_losses, "record_dropped", lambda signal, reason, count=1: dropped.append((signal, reason)))
    exporter = InMemorySpanExporter()
    tel = _configure(exporter, max_attribute_length=64)
    with oc.conversation(conversation_id="c\ud800", user_id="u" * 1000, tenant_id="t\udc00"):
        with oc.traced_stage("retrieval") as stage:
            stage.set_attribute("pair", "\ud83d\ude00")
            stage.set_attribute("huge", 2**63)
            stage.set_attribute("mixed", [1, 2**64])
            stage.set_attribute("ok", 2**63 - 1)
    tel.shutdown()
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.conversation.id"] == "c\ufffd"
    assert attributes["chatbot.tenant.id"] == "t\ufffd"
    assert attributes["user.id"] == "u" * 64
    assert attributes["pair"] == "😀"
    assert attributes["ok"] == 2**63 - 1
    assert "huge" not in attributes and "mixed" not in attributes
    assert dropped == [("attributes", "invalid_value")] * 2
    assert _sanitize.exportable_spans([span]) == [span]  # nothing left for the export to repair


def test_the_sdk_truncation_warning_comes_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    exporter = InMemorySpanExporter()
    tel = _configure(exporter, max_attribute_length=10)
    with caplog.at_level("WARNING", logger="opentelemetry.attributes"):
        for _ in range(50):
            with trace.get_tracer("t").start_as_current_span("s") as span:
                span.set_attribute("a", "q" * 50)
    tel.shutdown()
    assert len(exporter.get_finished_spans()) == 50
    assert sum("exceeds max length" in r.getMessage() for r in caplog.records) <= 1


def test_a_5_mb_attribute_key_is_bounded_at_the_source() -> None:
    exporter = InMemorySpanExporter()
    tel = _configure(exporter)
    with oc.traced_stage("retrieval", attributes={"a" * 5_000_000: 1}) as stage:
        stage.set_attribute("b" * 5_000_000, 2)
    tel.shutdown()
    (span,) = exporter.get_finished_spans()
    keys = {key[0]: len(key) for key in span.attributes or {} if key[0] in "ab"}
    assert keys == {"a": _values.DEFAULT_MAX_ATTRIBUTE_LENGTH, "b": _values.DEFAULT_MAX_ATTRIBUTE_LENGTH}
    assert _sanitize.exportable_spans([span]) == [span]
