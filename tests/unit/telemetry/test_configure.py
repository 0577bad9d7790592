"""configure(): provider, resource, OTLP from URL or env, OTEL_SDK_DISABLED, no double export, bounded shutdown."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import otel_chatbot as oc
from otel_chatbot import _sdk
from otel_chatbot._state import STATE
from otel_chatbot.telemetry import _configure
from otel_chatbot.telemetry._accounting import AccountingProcessor
from otel_chatbot.telemetry._buffered_exporter import BufferedSpanExporter
from otel_chatbot.telemetry._otlp import parse_endpoint
from otel_chatbot.telemetry._senders import HttpSender
from tests._servers import free_port


@oc.traced_stage("retrieval")
def retrieve() -> None:
    return None


def test_configure_installs_a_provider_with_resource(span_exporter: InMemorySpanExporter) -> None:
    tel = oc.configure(
        "support-bot",
        embedded=False,
        resource_attributes={"deployment.environment": "test"},
        span_processors=[SimpleSpanProcessor(span_exporter)],
    )
    retrieve()
    tel.shutdown()
    (span,) = span_exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "support-bot"
    assert span.resource.attributes["deployment.environment"] == "test"
    assert trace.get_tracer_provider() is tel.tracer_provider


def test_calling_twice_does_not_double_export() -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    oc.configure("bot", embedded=False, span_processors=[SimpleSpanProcessor(first)])
    tel = oc.configure("bot", embedded=False, span_processors=[SimpleSpanProcessor(second)])
    retrieve()
    tel.shutdown()
    assert len(first.get_finished_spans()) == 0
    assert len(second.get_finished_spans()) == 1


def test_reconfigure_with_another_name_warns(caplog: pytest.LogCaptureFixture) -> None:
    oc.configure("first", embedded=False)
    oc.configure("second", embedded=False)
    assert "cannot change" in caplog.text


def test_sampler_is_honoured_and_swappable(span_exporter: InMemorySpanExporter) -> None:
    oc.configure("s", embedded=False, sampler=ALWAYS_OFF, span_processors=[SimpleSpanProcessor(span_exporter)])
    retrieve()
    assert span_exporter.get_finished_spans() == ()
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    second = InMemorySpanExporter()  # the first call's processors are shut down by the second call
    tel = oc.configure("s", embedded=False, sampler=ALWAYS_ON, span_processors=[SimpleSpanProcessor(second)])
    retrieve()
    tel.shutdown()
    assert len(second.get_finished_spans()) == 1


def test_existing_user_provider_is_extended_not_replaced(span_exporter: InMemorySpanExporter) -> None:
    user_exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(user_exporter))
    trace.set_tracer_provider(provider)
    tel = oc.configure("bot", embedded=False, span_processors=[SimpleSpanProcessor(span_exporter)])
    retrieve()
    tel.shutdown()
    assert trace.get_tracer_provider() is provider
    assert len(user_exporter.get_finished_spans()) == 1
    assert len(span_exporter.get_finished_spans()) == 1


def test_errors_share_one_base_class() -> None:
    assert issubclass(oc.ConfigurationError, oc.OtelChatbotError) and issubclass(oc.ConfigurationError, ValueError)
    assert issubclass(oc.BudgetExceededError, oc.OtelChatbotError)


def test_sdk_disabled_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tel = oc.configure("bot")
    assert not tel.enabled
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    retrieve()  # a plain call
    with pytest.raises(oc.ConfigurationError):
        tel.report()
    assert tel.shutdown() is True


def test_generic_env_endpoint_is_a_base_url_for_http() -> None:
    assert parse_endpoint("http://h:4318/otlp", None, base=True) == ("http/protobuf", "http://h:4318/otlp/v1/traces")
    assert parse_endpoint("http://h:4318", None, base=True) == ("http/protobuf", "http://h:4318/v1/traces")
    assert parse_endpoint("http://h:4317", None, base=True) == ("grpc", "http://h:4317")


@pytest.mark.parametrize(
    ("url", "protocol", "expected"),
    [
        ("http://127.0.0.1:4317", None, ("grpc", "http://127.0.0.1:4317")),
        ("https://collector.example:443", None, ("grpc", "https://collector.example:443")),
        ("http://127.0.0.1:4318", None, ("http/protobuf", "http://127.0.0.1:4318/v1/traces")),
        ("http://host:9999/v1/traces", None, ("http/protobuf", "http://host:9999/v1/traces")),
        ("http://host:4317", "http/protobuf", ("http/protobuf", "http://host:4317/v1/traces")),
    ],
)
def test_endpoint_protocol_from_url(url: str, protocol: str | None, expected: tuple[str, str]) -> None:
    assert parse_endpoint(url, protocol) == expected


@pytest.mark.parametrize("url", ["localhost:4317", "ftp://x:1", "http://", "http://host:notaport", "not a url"])
def test_bad_endpoint_raises_configuration_error(url: str) -> None:
    with pytest.raises(oc.ConfigurationError, match="not a valid URL"):
        oc.configure("bot", endpoint=url)
    assert STATE.installed is None  # a mistake changes nothing


def test_bad_env_endpoint_and_protocol_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "nonsense")
    with pytest.raises(oc.ConfigurationError):
        oc.configure("bot")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    with pytest.raises(oc.ConfigurationError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        oc.configure("bot")


def test_env_endpoint_turns_on_otlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    tel = oc.configure("bot", embedded=False)
    (accounting,) = tel._processors  # every processor sits behind the accounting processor
    assert isinstance(accounting, AccountingProcessor)
    assert any(isinstance(p, BatchSpanProcessor) for p in accounting.downstream)
    assert tel.shutdown(timeout=3) in (True, False)


@pytest.mark.parametrize("scheme_port", ["grpc", "http"])
def test_shutdown_returns_within_timeout_when_endpoint_unreachable(scheme_port: str) -> None:
    # A port that accepts connections and never answers: the worst case for an exporter.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port = server.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}" + ("/v1/traces" if scheme_port == "http" else "")
    threads = set(threading.enumerate())
    try:
        tel = oc.configure("bot", endpoint=endpoint, embedded=False, export_timeout=1.0)
        for _ in range(50):
            retrieve()
        started = time.monotonic()
        finished = tel.shutdown(timeout=0.2)
        elapsed = time.monotonic() - started
        # The export still hangs in the background until its own timeout: wait for it, so it outlives no test.
        for thread in set(threading.enumerate()) - threads:
            thread.join(30)
    finally:
        server.close()
    assert finished is False  # it gave up waiting: the export it left behind blocks for 1 s
    # Not a speed assertion: the contract is "returns within its timeout"; 5 s of slack for a loaded machine.
    assert elapsed < 6.0


def test_user_code_never_sees_internal_errors_outside_pytest(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, span_exporter: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS", "1")

    def broken_redactor(text: str) -> str:
        raise RuntimeError("redactor bug")

    tel = oc.configure(
        "bot",
        embedded=False,
        capture_content=True,
        redact=broken_redactor,
        span_processors=[SimpleSpanProcessor(span_exporter)],
    )

    @oc.traced_stage("generation", model="gpt-4o-mini")
    def call(messages: list[dict[str, str]]) -> str:
        return "answer"

    assert call([{"role": "user", "content": "hi"}]) == "answer"
    tel.shutdown()
    assert "internal error in otel_chatbot; your code is unaffected" in caplog.text
    assert len(span_exporter.get_finished_spans()) == 1


def test_internal_errors_are_reraised_under_pytest(span_exporter: InMemorySpanExporter) -> None:
    def broken_redactor(text: str) -> str:
        raise RuntimeError("redactor bug")

    tel = oc.configure("bot", embedded=False, capture_content=True, redact=broken_redactor)

    @oc.traced_stage("generation", model="gpt-4o-mini")
    def call(messages: list[dict[str, str]]) -> str:
        return "answer"

    with pytest.raises(RuntimeError, match="redactor bug"):
        call([{"role": "user", "content": "hi"}])
    tel.shutdown()


def test_invalid_max_content_length(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(oc.ConfigurationError):
        oc.configure("bot", max_content_length=0)
    monkeypatch.setenv("OTEL_CHATBOT_MAX_CONTENT_LENGTH", "lots")
    with pytest.raises(oc.ConfigurationError, match="OTEL_CHATBOT_MAX_CONTENT_LENGTH"):
        oc.configure("bot")


def test_without_sdk_traced_stage_is_a_plain_call() -> None:
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)

    @oc.traced_stage("generation", model="gpt-4o-mini")
    def call(x: int) -> int:
        assert not trace.get_current_span().is_recording()
        return x + 1

    assert call(1) == 2


def test_a_failed_configure_leaves_no_export_thread(tmp_path: Path) -> None:
    import threading

    before = threading.active_count()
    for _ in range(3):
        with pytest.raises(oc.ConfigurationError):
            oc.configure("bot", endpoint="http://127.0.0.1:4317", ledger=str(tmp_path / "missing" / "dir" / "l.db"))
    assert threading.active_count() == before
    assert STATE.installed is None


class HookRecorder(SpanProcessor):
    """A user's span processor that records every hook the SDK sends it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.calls.append(("on_start", span.name))

    def _on_ending(self, span: Span) -> None:
        assert isinstance(span, Span) and span.end_time is not None  # the live span, ending
        self.calls.append(("_on_ending", span.name))

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append(("on_end", span.name))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.calls.append(("force_flush", ""))
        return True

    def shutdown(self) -> None:
        self.calls.append(("shutdown", ""))


@pytest.fixture(params=["configure's provider", "the user's provider"])
def provider_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "the user's provider":
        trace.set_tracer_provider(TracerProvider())
    return str(request.param)


@pytest.mark.parametrize("fan_out", [_sdk._TupleFanOut, _sdk._ForwardingFanOut], ids=["sdk-multi", "forwarding"])
def test_user_span_processors_see_every_hook_the_sdk_sends(
    provider_kind: str, fan_out: type[_sdk.FanOut], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_configure, "FanOutProcessor", fan_out)
    first = HookRecorder()
    oc.configure("bot", embedded=False, span_processors=[first])
    retrieve()
    assert first.calls == [("on_start", "retrieval"), ("_on_ending", "retrieval"), ("on_end", "retrieval")]
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider.force_flush() is True
    assert first.calls[-1] == ("force_flush", "")

    second = HookRecorder()
    tel = oc.configure("bot", embedded=False, span_processors=[second])  # swaps: the first one is shut down
    retrieve()
    assert first.calls[-1] == ("shutdown", "")
    assert ("on_end", "retrieval") not in first.calls[4:]
    assert second.calls == [("on_start", "retrieval"), ("_on_ending", "retrieval"), ("on_end", "retrieval")]
    tel.shutdown()
    retrieve()  # after shutdown nothing reaches the processors any more
    assert second.calls[3:] == [("shutdown", "")]


@pytest.mark.parametrize("otlp", [False, True])
def test_a_worker_of_several_says_its_metrics_are_its_own(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, otlp: bool
) -> None:
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())  # as in a uvicorn --workers child
    caplog.set_level(logging.INFO, logger="otel_chatbot")
    tel = oc.configure("bot", endpoint=f"http://127.0.0.1:{free_port()}" if otlp else None)
    try:
        (record,) = [r for r in caplog.records if "cover this worker only" in r.getMessage()]
        assert record.levelno == (logging.INFO if otlp else logging.WARNING)
        assert ("OTEL_EXPORTER_OTLP_ENDPOINT" in record.getMessage()) is not otlp
    finally:
        tel.shutdown(timeout=3)


def test_a_single_process_says_nothing_about_workers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="otel_chatbot")
    oc.configure("bot").shutdown(timeout=3)
    assert not [r for r in caplog.records if "worker" in r.getMessage()]


def test_protocol_argument_wins_over_the_environment_and_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_chatbot.telemetry._otlp import target

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert target("http://h:4318") == ("grpc", "http://h:4318")  # the environment over the URL
    assert target("http://h:4318", "http/protobuf") == ("http/protobuf", "http://h:4318/v1/traces")
    assert target("http://h:4317", " HTTP/Protobuf ") == ("http/protobuf", "http://h:4317/v1/traces")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL")
    tel = oc.configure("bot", endpoint=f"http://127.0.0.1:{free_port()}", protocol="http/protobuf", embedded=False)
    try:
        (accounting,) = tel._processors
        assert isinstance(accounting, AccountingProcessor)
        (batch,) = [p for p in accounting.downstream if isinstance(p, BatchSpanProcessor)]
        exporter = batch._batch_processor._exporter
        assert isinstance(exporter, BufferedSpanExporter)  # the export buffer's, over HTTP/protobuf
        assert isinstance(exporter.sender, HttpSender)
        assert exporter.sender.url.endswith("/v1/traces")
    finally:
        tel.shutdown(timeout=3)


def test_bad_protocol_argument_names_itself_and_changes_nothing() -> None:
    with pytest.raises(oc.ConfigurationError, match="protocol='http' is not an OTLP protocol"):
        oc.configure("bot", endpoint="http://127.0.0.1:4318", protocol="http")
    assert STATE.installed is None
