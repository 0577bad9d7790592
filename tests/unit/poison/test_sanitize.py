"""``exportable_spans`` / ``exportable_metrics``: one poison value never costs a batch (issue 13, item 2).

Each case is first shown failing the way the issue measured it (the SDK's own exporter, a real gRPC receiver),
then passing through the sanitizer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
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
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode

from otel_chatbot import _losses, _values
from otel_chatbot._sanitize import exportable_metrics, exportable_spans
from otel_chatbot._values import clean_text
from tests._otlp_receiver import OtlpReceiver
from tests.unit.poison._helpers import SanitizingSpanExporter, grpc_receiver, make_spans, span_exporter

LONE = "bad \ud800 message"


@pytest.fixture
def dropped(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """What ``record_dropped`` was called with."""
    calls: list[tuple[str, str, int]] = []
    monkeypatch.setattr(
        _losses, "record_dropped", lambda signal, reason, count=1: calls.append((signal, reason, count))
    )
    return calls


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with grpc_receiver() as r:
        yield r


def _delivered(receiver: OtlpReceiver, spans: list[ReadableSpan]) -> list[Any]:
    """Export ``spans`` through the sanitizing exporter (it must succeed); the spans the receiver got."""
    exporter = SanitizingSpanExporter(span_exporter(receiver.endpoint))
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    return receiver.spans()


def test_without_sanitizing_a_lone_surrogate_costs_the_whole_batch(receiver: OtlpReceiver) -> None:
    spans = make_spans(201, error=LONE)
    exporter = span_exporter(receiver.endpoint)
    try:
        with pytest.raises(UnicodeEncodeError):  # the SDK's exporter raises out of export(): the batch is lost
            exporter.export(spans)
    finally:
        exporter.shutdown()
    assert len(receiver.spans()) == 0


def test_a_lone_surrogate_in_an_exception_message_is_repaired_and_the_batch_delivered(receiver: OtlpReceiver) -> None:
    spans = make_spans(201, error=LONE)
    received = _delivered(receiver, spans)
    assert len(received) == 201
    bad = received[100]
    assert bad.status.message == "ValueError: bad \ufffd message"
    assert {kv.key: kv.value.string_value for kv in bad.events[0].attributes}[
        "exception.message"
    ] == "bad \ufffd message"


def test_without_a_length_limit_one_5_mb_attribute_makes_the_receiver_refuse_the_batch(receiver: OtlpReceiver) -> None:
    spans = make_spans(50, {"big": "x" * 5_000_000})
    exporter = span_exporter(receiver.endpoint)
    try:
        assert exporter.export(spans) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert len(receiver.spans()) == 0


def test_a_5_mb_attribute_is_cut_to_the_limit_and_the_batch_delivered(receiver: OtlpReceiver) -> None:
    spans = make_spans(50, {"big": "x" * 5_000_000, "list": ["y" * 20_000, "z"]})
    received = _delivered(receiver, spans)
    assert len(received) == 50
    attributes = {kv.key: kv.value for kv in received[25].attributes}
    assert len(attributes["big"].string_value) == _values.DEFAULT_MAX_ATTRIBUTE_LENGTH
    assert [len(v.string_value) for v in attributes["list"].array_value.values] == [16384, 1]


def test_an_int_outside_int64_is_removed_counted_and_logged(
    receiver: OtlpReceiver, dropped: list[tuple[str, str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    spans = make_spans(101, {"tokens": 2**63, "ok": 2**63 - 1, "neg": -(2**63), "seq": [1, 2**64]})
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        received = _delivered(receiver, spans)
    assert len(received) == 101
    attributes = {kv.key: kv.value for kv in received[50].attributes}
    assert set(attributes) == {"index", "ok", "neg"}
    assert attributes["ok"].int_value == 2**63 - 1
    assert dropped == [("attributes", "invalid_value", 1)] * 2
    assert "the integer 9.22e+18 is outside int64" in caplog.text
    assert "Failed to encode key" not in caplog.text  # the SDK's own per-attribute traceback never comes


def test_an_int_too_big_for_a_float_is_removed_alone_and_the_span_delivered(
    receiver: OtlpReceiver, dropped: list[tuple[str, str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    # 2**1100 is past the largest float: formatting it with "g" for the warning raised and cost the whole span
    spans = make_spans(11, {"huge": 2**1100, "ok": 7, "seq": [1, -(2**1100)]})
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        received = _delivered(receiver, spans)
    assert len(received) == 11
    attributes = {kv.key: kv.value for kv in received[5].attributes}
    assert set(attributes) == {"index", "ok"}
    assert attributes["ok"].int_value == 7
    assert dropped == [("attributes", "invalid_value", 1)] * 2
    assert "the integer ~2^1100 is outside int64" in caplog.text


def test_a_metric_point_too_big_for_a_float_is_dropped_alone(dropped: list[tuple[str, str, int]]) -> None:
    request = encode_metrics(exportable_metrics(_metrics(2**1100, "t")))
    request.SerializeToString()
    points = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
    assert [p.as_int for p in points] == [3]
    assert dropped == [("metrics", "invalid_value", 1)]


def test_spans_that_encode_come_back_as_the_same_objects() -> None:
    spans = make_spans(20, {"unicode": "héllo 😀", "floats": [1.5, float("nan")], "flag": True})
    assert exportable_spans(spans) is spans


def test_every_string_of_a_span_is_repaired(dropped: list[tuple[str, str, int]]) -> None:
    (span,) = make_spans(1)
    pair = "\ud83d\ude00"  # a surrogate pair: the character it encodes (😀), not two replacement characters
    context = span.get_span_context()
    assert context is not None
    from opentelemetry.sdk.trace import Event
    from opentelemetry.trace import Link

    poisoned = ReadableSpan(
        name=f"name {pair}\udfff",
        context=context,
        resource=Resource({"service.name": "svc\ud800", "k\udc00": "v"}),
        attributes={"key\ud800": ("a\ud800", "b"), "map": "x"},
        events=(Event("ev\ud800", {"e": "v\ud800"}, 1),),
        links=(Link(context, {"l": "w\ud800"}),),
        status=Status(StatusCode.ERROR, "desc\ud800" + "d" * 20_000),
        start_time=1,
        end_time=2,
        instrumentation_scope=InstrumentationScope("scope\ud800", "1\ud800", None, {"s": "\ud800"}),
    )
    (fixed,) = exportable_spans([poisoned])
    request = encode_spans([fixed])
    request.SerializeToString()
    out = request.resource_spans[0]
    assert out.scope_spans[0].spans[0].name == "name 😀\ufffd"
    assert out.scope_spans[0].spans[0].status.message.startswith("desc\ufffd")
    assert len(out.scope_spans[0].spans[0].status.message) == 16384
    assert out.scope_spans[0].scope.name == "scope\ufffd"
    assert {kv.key for kv in out.resource.attributes} == {"service.name", "k\ufffd"}
    assert out.scope_spans[0].spans[0].events[0].name == "ev\ufffd"
    assert out.scope_spans[0].spans[0].links[0].attributes[0].value.string_value == "w\ufffd"
    assert dropped == []


def test_a_span_that_cannot_be_encoded_even_repaired_is_dropped_alone(dropped: list[tuple[str, str, int]]) -> None:
    spans = make_spans(3)
    broken = ReadableSpan(
        name="x\ud800", context=SpanContext(2**130, 1, False), start_time=1, end_time=2
    )  # a trace id no encoder can hold
    out = exportable_spans([spans[0], broken, spans[1], spans[2]])
    assert list(out) == spans
    assert dropped == [("spans", "invalid_value", 1)]
    encode_spans(out).SerializeToString()


def test_a_max_attribute_length_set_by_configure_applies_at_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_values, "_limit", 10)
    (span,) = exportable_spans(make_spans(1, {"a": "0123456789abc"}))
    assert span.attributes is not None
    assert span.attributes["a"] == "0123456789"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("é😀", "é😀"),
        ("\ud800", "\ufffd"),
        ("\ud83d\ude00", "😀"),
        ("a\udc00\ud800b", "a\ufffd\ufffdb"),
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text) == expected
    clean_text(text).encode("utf-8")


def _metrics(value: int | float, tenant: str) -> MetricsData:
    point = NumberDataPoint(
        attributes={"chatbot.tenant.id": tenant}, start_time_unix_nano=1, time_unix_nano=2, value=value
    )
    good = NumberDataPoint(attributes={"chatbot.tenant.id": "acme"}, start_time_unix_nano=1, time_unix_nano=2, value=3)
    metric = Metric(
        name="gen_ai.client.cost",
        description="USD\ud800",
        unit="{USD}",
        data=Sum(
            data_points=[point, good], aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True
        ),
    )
    scope = ScopeMetrics(scope=InstrumentationScope("otel_chatbot"), metrics=[metric], schema_url="")
    return MetricsData(resource_metrics=[ResourceMetrics(resource=Resource({}), scope_metrics=[scope], schema_url="")])


def test_metrics_with_a_surrogate_label_are_repaired(dropped: list[tuple[str, str, int]]) -> None:
    data = _metrics(1.5, "t\ud800")
    with pytest.raises(UnicodeEncodeError):
        encode_metrics(data).SerializeToString()
    request = encode_metrics(exportable_metrics(data))
    request.SerializeToString()
    points = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
    assert [p.attributes[0].value.string_value for p in points] == ["t\ufffd", "acme"]
    assert dropped == []


def test_a_metric_point_outside_int64_is_dropped_alone(dropped: list[tuple[str, str, int]]) -> None:
    request = encode_metrics(exportable_metrics(_metrics(2**63, "t")))
    request.SerializeToString()
    points = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
    assert [p.as_int for p in points] == [3]
    assert dropped == [("metrics", "invalid_value", 1)]


def test_metrics_that_encode_come_back_as_the_same_object() -> None:
    data = _metrics(1.5, "acme")
    data = MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=data.resource_metrics[0].resource,
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope("otel_chatbot"),
                        metrics=[
                            Metric(
                                name="m",
                                description="d",
                                unit="1",
                                data=data.resource_metrics[0].scope_metrics[0].metrics[0].data,
                            )
                        ],
                        schema_url="",
                    )
                ],
                schema_url="",
            )
        ]
    )
    assert exportable_metrics(data) is data


@pytest.mark.parametrize(
    ("value", "shown"),
    [(2**63, "9.22e+18"), (1.5, "1.5"), (float("nan"), "nan"), (2**1100, "~2^1100"), (-(2**2000), "~-2^2000")],
)
def test_shown_number_never_raises(value: int | float, shown: str) -> None:
    assert _values.shown_number(value) == shown


def test_a_5_mb_ascii_attribute_key_is_cut_and_the_batch_delivered(receiver: OtlpReceiver) -> None:
    # the SDK bounds values, never keys: one 5 MB key made the receiver refuse the whole request
    spans = make_spans(11, {"k" * 5_000_000: "v", "ok": 1})
    received = _delivered(receiver, spans)
    assert len(received) == 11
    attributes = {kv.key: kv.value for kv in received[5].attributes}
    assert {len(key) for key in attributes} == {5, 2, _values.DEFAULT_MAX_ATTRIBUTE_LENGTH}
    assert attributes["k" * _values.DEFAULT_MAX_ATTRIBUTE_LENGTH].string_value == "v"
