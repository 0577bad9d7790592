"""Helpers of the poison-value tests: spans made by the real SDK, and exporters that sanitise before encoding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_chatbot._sanitize import exportable_metrics, exportable_spans
from tests._otlp_receiver import OtlpReceiver


class SanitizingSpanExporter(SpanExporter):
    """What the export-buffer's exporter does: ``exportable_spans`` on every batch before encoding."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export(exportable_spans(spans))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class SanitizingMetricExporter(MetricExporter):
    """``exportable_metrics`` on every collection before encoding."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return self.inner.export(exportable_metrics(metrics_data), timeout_millis=timeout_millis)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis)


@contextmanager
def grpc_receiver() -> Iterator[OtlpReceiver]:
    """The in-memory gRPC OTLP receiver, serving (like a collector, it refuses requests over gRPC's 4 MiB)."""
    with OtlpReceiver("grpc") as receiver:
        receiver.start()
        yield receiver


def data_points(receiver: OtlpReceiver) -> list[Any]:
    """Every metric data point received (number and histogram), in order."""
    points: list[Any] = []
    for request in list(receiver.metrics_requests):
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is not None:
                        points.extend(getattr(metric, kind).data_points)
    return points


def span_exporter(endpoint: str) -> OTLPSpanExporter:
    """The SDK's gRPC span exporter to ``endpoint``, with a short timeout (a refused batch is not retried long)."""
    return OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=2)


def metric_exporter(endpoint: str) -> OTLPMetricExporter:
    return OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=2)


def make_spans(count: int, poison: dict[str, Any] | None = None, *, error: str | None = None) -> list[ReadableSpan]:
    """``count`` finished SDK spans; the middle one gets ``poison`` attributes and, with ``error``, fails with it."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("poison-tests")
    for i in range(count):
        with tracer.start_as_current_span(f"span {i}", record_exception=False, set_status_on_exception=False) as span:
            span.set_attribute("index", i)
            if i == count // 2:
                span.set_attributes(poison or {})
                if error is not None:
                    exc = ValueError(error)
                    span.record_exception(exc)
                    span.set_status(_error_status(f"ValueError: {error}"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def _error_status(description: str) -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, description)
