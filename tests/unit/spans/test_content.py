"""Content capture: off by default, on by configure() or the env var, semconv-shaped, redacted, no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.spans._content import scrub_secrets

MESSAGES = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "My key is sk-proj-abcdefghijklmnopqrstuvwxyz123456, what is 2+2?"},
]
RESPONSE = {
    "model": "gpt-4o-mini",
    "choices": [{"message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 1},
}


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def generate(messages: list[dict[str, str]]) -> dict[str, Any]:
    return RESPONSE


@oc.traced_stage("retrieval", data_source="faq")
def retrieve(query: str) -> list[dict[str, Any]]:
    return [{"id": "doc-1", "score": 0.9, "text": "secret body"}, {"id": "doc-2", "score": 0.5}]


def _configure(exporter: InMemorySpanExporter, **kwargs: Any) -> oc.Telemetry:
    return oc.configure("content-test", embedded=False, span_processors=[SimpleSpanProcessor(exporter)], **kwargs)


def _run(exporter: InMemorySpanExporter) -> dict[str, dict[str, Any]]:
    generate(MESSAGES)
    retrieve("how do refunds work? Authorization: Bearer abcdef1234567890abcdef")
    return {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}


CONTENT_KEYS = {
    semconv.GEN_AI_INPUT_MESSAGES,
    semconv.GEN_AI_OUTPUT_MESSAGES,
    semconv.GEN_AI_RETRIEVAL_QUERY_TEXT,
    semconv.GEN_AI_RETRIEVAL_DOCUMENTS,
}


def test_off_by_default(span_exporter: InMemorySpanExporter) -> None:
    tel = _configure(span_exporter)
    spans = _run(span_exporter)
    tel.shutdown()
    for attrs in spans.values():
        assert not CONTENT_KEYS & set(attrs)
    # tokens, cost and latency are still there
    assert spans["chat gpt-4o-mini"][semconv.GEN_AI_USAGE_COST_AMOUNT] > 0


@pytest.fixture(params=["configure", "env"])
def capture_on(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, span_exporter: InMemorySpanExporter
) -> Iterator[None]:
    if request.param == "env":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        tel = _configure(span_exporter)
    else:
        tel = _configure(span_exporter, capture_content=True)
    yield
    tel.shutdown()


@pytest.mark.usefixtures("capture_on")
def test_on_shapes_follow_semconv_schemas(span_exporter: InMemorySpanExporter) -> None:
    spans = _run(span_exporter)
    chat = spans["chat gpt-4o-mini"]
    inputs = json.loads(chat[semconv.GEN_AI_INPUT_MESSAGES])
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "You are helpful."}]}
    assert inputs[1]["role"] == "user"
    outputs = json.loads(chat[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}]
    retrieval = spans["retrieval faq"]
    assert retrieval[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT].startswith("how do refunds work?")
    assert json.loads(retrieval[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == [
        {"id": "doc-1", "score": 0.9},
        {"id": "doc-2", "score": 0.5},
    ]


@pytest.mark.usefixtures("capture_on")
def test_secrets_never_land_in_attributes(span_exporter: InMemorySpanExporter) -> None:
    spans = _run(span_exporter)
    everything = json.dumps(spans)
    assert "sk-proj-abcdefghijklmnopqrstuvwxyz123456" not in everything
    assert "abcdef1234567890abcdef" not in everything
    assert "[REDACTED]" in everything


def test_redaction_and_max_length_apply_before_setting(span_exporter: InMemorySpanExporter) -> None:
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace("2+2", "<math>")

    tel = _configure(span_exporter, capture_content=True, redact=redact, max_content_length=60)
    spans = _run(span_exporter)
    tel.shutdown()
    value = spans["chat gpt-4o-mini"][semconv.GEN_AI_INPUT_MESSAGES]
    assert len(value) == 60 and value.endswith("...[truncated]")
    assert all("sk-proj-abcdefghij" not in text for text in seen)  # scrubbed before the user's redactor sees it
    assert any("<math>" in redact(t) for t in seen)


def test_user_attributes_are_scrubbed(span_exporter: InMemorySpanExporter) -> None:
    tel = _configure(span_exporter)
    with oc.traced_stage("auth_validation") as stage:
        stage.set_attribute("http.request.header.authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig")
    tel.shutdown()
    (span,) = span_exporter.get_finished_spans()
    assert (span.attributes or {})["http.request.header.authorization"] == "Bearer [REDACTED]"


def test_exception_messages_are_scrubbed(span_exporter: InMemorySpanExporter) -> None:
    tel = _configure(span_exporter)

    @oc.traced_stage("generation", model="gpt-4o-mini")
    def call() -> None:
        raise RuntimeError("401 for api_key=sk-abcdefghijklmnopqrstuvwx")

    with pytest.raises(RuntimeError, match="sk-abcdefghijklmnopqrstuvwx"):  # the user's exception is untouched
        call()
    tel.shutdown()
    (span,) = span_exporter.get_finished_spans()
    assert "sk-abcdefghijklmnopqrstuvwx" not in str(span.status.description)
    assert "sk-abcdefghijklmnopqrstuvwx" not in json.dumps([dict(e.attributes or {}) for e in span.events])


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abc.def.ghi-jkl_mno", "abc.def.ghi-jkl_mno"),
        ("sk-ant-api03-abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv"),
        ("key AIzaSyA-abcdefghijklmnopqrstuvwxyz12345", "abcdefghijklmnopqrstuvwxyz12345"),
        ("AKIAABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789"),
        ('{"api_key": "super-secret-value-123"}', "super-secret-value-123"),
        ("password=hunter2hunter2", "hunter2hunter2"),
    ],
)
def test_scrub_secrets(text: str, leak: str) -> None:
    assert leak not in scrub_secrets(text)


def test_scrub_keeps_ordinary_text() -> None:
    text = "The skeleton key opens sk-doors; bearer of news."
    assert scrub_secrets(text) == text


def test_invalid_capture_env_raises_at_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "maybe")
    with pytest.raises(oc.ConfigurationError, match="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        oc.configure("x")


def test_streamed_output_is_captured_when_on(span_exporter: InMemorySpanExporter) -> None:
    tel = _configure(span_exporter, capture_content=True, max_content_length=200)

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def stream(messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"role": "assistant"}}]}
        yield {"choices": [{"delta": {"content": "Four"}}]}
        yield {"choices": [{"delta": {"content": "."}, "finish_reason": "stop"}]}

    list(stream(MESSAGES))
    tel.shutdown()
    (span,) = span_exporter.get_finished_spans()
    outputs = json.loads(str((span.attributes or {})[semconv.GEN_AI_OUTPUT_MESSAGES]))
    assert outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "Four."}], "finish_reason": "stop"}]


def test_streamed_output_is_not_kept_when_off(span_exporter: InMemorySpanExporter) -> None:
    tel = _configure(span_exporter)

    @oc.traced_stage("generation", model="gpt-4o-mini")
    def stream() -> Iterator[str]:
        yield "secret answer"

    list(stream())
    tel.shutdown()
    (span,) = span_exporter.get_finished_spans()
    assert not CONTENT_KEYS & set(span.attributes or {})
