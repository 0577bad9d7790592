from __future__ import annotations

import pytest

from otel_chatbot import env
from otel_chatbot.errors import ConfigurationError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("span_only", True), ("false", False), ("no_content", False), ("", False)],
)
def test_capture_content_values(raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, raw)
    assert env.capture_content() is expected


def test_invalid_value_warns_and_defaults(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, "sometimes")
    assert env.capture_content() is False
    assert "use one of true, false" in caplog.text
    with pytest.raises(ConfigurationError):
        env.capture_content(strict=True)


def test_defaults_without_environment() -> None:
    assert env.capture_content() is False
    assert env.sdk_disabled() is False
    assert env.max_content_length() == env.DEFAULT_MAX_CONTENT_LENGTH
    assert env.prices_file() is None and env.otlp_traces_endpoint() is None and env.otlp_protocol() is None


def test_traces_endpoint_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.OTEL_EXPORTER_OTLP_ENDPOINT, "http://a:4317")
    monkeypatch.setenv(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "http://b:4318/v1/traces")
    assert env.otlp_traces_endpoint() == "http://b:4318/v1/traces"
