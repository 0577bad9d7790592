"""Property tests of ``exportable_spans`` / ``exportable_metrics`` on raw SDK data (values set with the SDK directly,
as another instrumentation or the user's own code would): every batch encodes and every span of it is delivered to a
real gRPC OTLP receiver, strings come out valid UTF-8 and within the limit, and clean batches come back untouched.

Runtime: a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Status, StatusCode

from otel_chatbot._sanitize import exportable_metrics, exportable_spans
from otel_chatbot._values import DEFAULT_MAX_ATTRIBUTE_LENGTH
from tests._otlp_receiver import OtlpReceiver
from tests.unit.poison._helpers import SanitizingSpanExporter, grpc_receiver, span_exporter
from tests.unit.properties.strategies import INTS, SCALARS, STRINGS, TEXT

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
RAW_VALUES = SCALARS | st.lists(st.one_of(STRINGS), max_size=3) | st.lists(INTS, max_size=3)
"""What the SDK itself accepts as an attribute value (it drops the rest): the sanitizer's input."""


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with grpc_receiver() as r:
        yield r


def _spans(name: str, attributes: dict[str, Any], description: str, event: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("raw")
    for i in range(3):
        with tracer.start_as_current_span(name if i == 1 else f"ok {i}") as span:
            if i == 1:
                span.set_attributes(attributes)
                span.add_event(event, attributes)
                span.set_status(Status(StatusCode.ERROR, description))
    provider.shutdown()
    return list(memory.get_finished_spans())


def _strings(span: Any) -> Iterator[str]:
    yield span.name
    yield span.status.message
    for kv in [*span.attributes, *(a for e in span.events for a in e.attributes)]:
        if kv.value.HasField("string_value"):
            yield kv.value.string_value
        for item in kv.value.array_value.values:
            if item.HasField("string_value"):
                yield item.string_value


def test_any_raw_span_batch_is_delivered_whole(receiver: OtlpReceiver) -> None:
    exporter = SanitizingSpanExporter(span_exporter(receiver.endpoint))

    @SETTINGS
    @given(
        name=STRINGS,
        attributes=st.dictionaries(TEXT.filter(bool), RAW_VALUES, max_size=4),
        description=STRINGS,
        event=TEXT,
    )
    def one_batch(name: str, attributes: dict[str, Any], description: str, event: str) -> None:
        spans = _spans(name, attributes, description, event)
        before = len(receiver.spans())
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        received = receiver.spans()[before:]
        assert len(received) == 3  # the whole batch, the poisoned span included
        for span in received:
            for text in _strings(span):
                assert len(text) <= DEFAULT_MAX_ATTRIBUTE_LENGTH

    try:
        one_batch()
    finally:
        exporter.shutdown()


@SETTINGS
@given(attributes=st.dictionaries(st.text(max_size=8).filter(bool), st.text(max_size=20) | st.integers(-9, 9)))
def test_clean_batches_come_back_as_the_same_objects(attributes: dict[str, Any]) -> None:
    spans = _spans("clean", attributes, "fine", "event")
    assert exportable_spans(spans) is spans


@SETTINGS
@given(labels=st.dictionaries(TEXT, STRINGS | INTS, max_size=3), value=INTS | st.floats(), unit=TEXT)
def test_any_metric_data_encodes(labels: dict[str, Any], value: Any, unit: str) -> None:
    point = NumberDataPoint(attributes=labels, start_time_unix_nano=1, time_unix_nano=2, value=value)
    ok = NumberDataPoint(attributes={"a": "b"}, start_time_unix_nano=1, time_unix_nano=2, value=1)
    data = Sum(data_points=[point, ok], aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True)
    metric = Metric(name="m", description="d", unit=unit, data=data)
    metrics = MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource({"service.name": "s"}),
                scope_metrics=[ScopeMetrics(scope=InstrumentationScope("x"), metrics=[metric], schema_url="")],
                schema_url="",
            )
        ]
    )
    request = encode_metrics(exportable_metrics(metrics))
    request.SerializeToString()
    points = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
    assert len(points) in (1, 2) and points[-1].as_int == 1  # at most the bad point is dropped, never the other
