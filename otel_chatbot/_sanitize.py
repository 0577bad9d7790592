"""Values made safe to export (issue 13, item 2): valid UTF-8, bounded length, numbers OTLP can hold.

One bad value must never cost a whole batch. The OTLP encoder raises on a string that is not valid UTF-8 (a lone
surrogate, ``"\\ud800"``) in a span name, an event name or a status description, and the exporter then drops every
span of the batch; it silently skips an attribute whose string or integer it cannot encode (an int outside int64);
and a collector refuses a whole request holding one 5 MB value. So before encoding:

* strings are repaired: a lone surrogate becomes U+FFFD, a surrogate pair the character it encodes;
* strings longer than the maximum attribute length (``configure(max_attribute_length=...)``) are cut;
* integers outside int64 are removed (logged, and counted with ``record_dropped("attributes", "invalid_value")``);
* a span that still cannot be encoded is dropped alone (``record_dropped("spans", "invalid_value")``).

The common case is a cheap scan that finds nothing and hands back the same objects (``BENCHMARKS.md``, section
``sanitize``). The value helpers (``clean_text``...) live in ``otel_chatbot._values`` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Gauge,
    Histogram,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, Status

from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot._sdk import span_attributes
from otel_chatbot._values import (
    DEFAULT_MAX_ATTRIBUTE_LENGTH,
    INT64_MAX,
    INT64_MIN,
    clean_text,
    max_attribute_length,
    shown_number,
    warn_removed,
)

__all__ = ["exportable_metrics", "exportable_spans"]

_NAMES = DEFAULT_MAX_ATTRIBUTE_LENGTH
"""The bound of names, keys, units, descriptions and resource and scope values (not the configurable value limit: a
limit of a few characters must not cut ``exception`` or ``service.name``)."""
_DROP = object()
"""What ``_repair_value`` returns for a value that cannot be exported (removed, counted)."""


# --- the scan: is everything exportable as it is? -----------------------------------------------------------------


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_ok(value: str, limit: int) -> bool:
    return len(value) <= limit and (value.isascii() or _utf8(value))


def _value_ok(value: Any, limit: int) -> bool:
    kind = type(value)
    if kind is str:
        return _text_ok(value, limit)
    if kind is int:
        return bool(INT64_MIN <= value <= INT64_MAX)
    if kind is bool or kind is float:
        return True
    if kind is tuple or kind is list:
        return all(_value_ok(item, limit) for item in value)
    if kind is bytes:
        return len(value) <= limit
    return False  # anything else (a subclass, a mapping): the repair path decides


def _attributes_ok(attributes: Mapping[str, Any] | None, limit: int) -> bool:
    """Whether every key and value is exportable as it is (the hot loop of the normal path: the common types inline)."""
    if not attributes:
        return True
    for key, value in attributes.items():
        kind = type(value)
        if kind is str:
            if len(value) > limit or not (value.isascii() or _utf8(value)):
                return False
        elif kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return False
        elif kind is not bool and kind is not float and not _value_ok(value, limit):
            return False
        if type(key) is not str or len(key) > _NAMES or not (key.isascii() or _utf8(key)):
            return False
    return True


_checked: list[object] = []
"""The last resource and scope found exportable (spans of a batch share them): not scanned again."""


def _shared_ok(thing: Resource | InstrumentationScope | None, limit: int) -> bool:
    if thing is None:
        return True
    for seen in _checked:
        if seen is thing:
            return True
    if isinstance(thing, Resource):
        ok = _attributes_ok(_plain(thing.attributes), limit)
    else:
        ok = (
            _text_ok(thing.name, limit)
            and _text_ok(thing.version or "", limit)
            and _attributes_ok(_plain(thing.attributes), limit)
        )
    if ok:
        _checked[:] = [thing, *_checked[:3]]
    return ok


def _plain(attributes: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The SDK's ``BoundedAttributes`` as its inner dict: iterating the mapping itself costs ~0.4 us an item."""
    inner = getattr(attributes, "_dict", None)
    return inner if type(inner) is dict else attributes


def _span_ok(span: ReadableSpan, limit: int) -> bool:
    if not _text_ok(span.name, limit) or not _attributes_ok(span_attributes(span), limit):
        return False
    description = span.status.description
    if description is not None and not _text_ok(description, limit):
        return False
    for event in span.events:
        if not _text_ok(event.name, _NAMES) or not _attributes_ok(_plain(event.attributes), limit):
            return False
    for link in span.links:
        if not _attributes_ok(_plain(link.attributes), limit):
            return False
    return _shared_ok(span.resource, _NAMES) and _shared_ok(span.instrumentation_scope, _NAMES)


# --- the repair ---------------------------------------------------------------------------------------------------


def _repair_value(value: Any, limit: int, key: str) -> Any:
    if isinstance(value, str):
        return clean_text(value, limit)
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return int(value)
        warn_removed(f"attribute {key!r}: the integer {shown_number(value)} is outside int64 (what OTLP holds)")
        return _DROP
    if isinstance(value, bytes):
        return value[:limit]
    if isinstance(value, Mapping):
        return _repair_attributes(value, limit)
    if isinstance(value, Sequence):
        items = [_repair_value(item, limit, key) for item in value]
        return _DROP if any(item is _DROP for item in items) else tuple(items)
    return clean_text(str(value), limit)


def _repair_attributes(attributes: Mapping[str, Any] | None, limit: int) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        name = clean_text(str(key), _NAMES)
        repaired = _repair_value(value, limit, name)
        if repaired is not _DROP:
            clean[name] = repaired
    return clean


def _repair_resource(resource: Resource, limit: int) -> Resource:
    if _shared_ok(resource, limit):
        return resource
    return Resource(_repair_attributes(resource.attributes, limit), resource.schema_url)


def _repair_scope(scope: InstrumentationScope | None, limit: int) -> InstrumentationScope | None:
    if scope is None or _shared_ok(scope, limit):
        return scope
    return InstrumentationScope(
        clean_text(scope.name, limit),
        clean_text(scope.version, limit) if scope.version is not None else None,
        scope.schema_url,
        _repair_attributes(scope.attributes, limit),
    )


def _repaired_span(span: ReadableSpan, limit: int) -> ReadableSpan:
    status = span.status
    if status.description is not None:
        status = Status(status.status_code, clean_text(status.description, limit))
    return ReadableSpan(
        name=clean_text(span.name, limit),
        context=span.context,
        parent=span.parent,
        resource=_repair_resource(span.resource, _NAMES),
        attributes=_repair_attributes(span.attributes, limit),
        events=tuple(
            Event(clean_text(e.name, _NAMES), _repair_attributes(e.attributes, limit), e.timestamp) for e in span.events
        ),
        links=tuple(Link(link.context, _repair_attributes(link.attributes, limit)) for link in span.links),
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=_repair_scope(span.instrumentation_scope, _NAMES),
    )


def _encodes(span: ReadableSpan) -> bool:
    """Whether the OTLP encoder takes ``span`` (only asked of repaired spans, off the common path)."""
    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    except ImportError:  # no OTLP exporter installed: nothing here encodes spans
        return True
    try:
        encode_spans([span]).SerializeToString()
    except Exception:
        return False
    return True


def exportable_spans(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """``spans`` as they can be encoded to OTLP: the same objects when they already can (the common, cheap case),
    otherwise copies with invalid strings repaired, over-long values cut and out-of-range numbers removed (each
    removal counted with ``_losses.record_dropped``). Never raises."""
    limit = max_attribute_length()
    try:
        bad = [i for i, span in enumerate(spans) if not _span_ok(span, limit)]
        if not bad:
            return spans
        out = list(spans)
        for i in reversed(bad):
            try:
                repaired = _repaired_span(out[i], limit)
            except Exception:
                log_internal_error()
                repaired = None
            if repaired is not None and _encodes(repaired):
                out[i] = repaired
            else:
                name = clean_text(str(out.pop(i).name), 80)
                warn_removed(f"span {name!r} still fails to encode after repair", "spans")
        return out
    except Exception:
        log_internal_error()
        return spans


# --- metrics ------------------------------------------------------------------------------------------------------


def _point_ok(point: Any, limit: int) -> bool:
    value = getattr(point, "value", None)
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        return False
    return _attributes_ok(_plain(point.attributes), limit)


def _metric_ok(metric: Metric, limit: int) -> bool:
    if not _text_ok(metric.name, _NAMES):
        return False
    if not _text_ok(metric.description or "", _NAMES) or not _text_ok(metric.unit or "", _NAMES):
        return False
    return all(_point_ok(point, limit) for point in metric.data.data_points)


def _repaired_point(point: Any, limit: int) -> Any:
    import dataclasses

    value = getattr(point, "value", None)
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        shown = shown_number(value)
        warn_removed(f"a metric data point with the value {shown} is outside int64 (what OTLP holds)", "metrics")
        return None
    return dataclasses.replace(point, attributes=_repair_attributes(point.attributes, limit))


def _repaired_metric(metric: Metric, limit: int) -> Metric:
    import dataclasses

    data = metric.data
    points = [p for p in (_repaired_point(point, limit) for point in data.data_points) if p is not None]
    new_data: Sum | Gauge | Histogram | ExponentialHistogram = dataclasses.replace(data, data_points=points)  # type: ignore[arg-type]
    return Metric(
        name=clean_text(metric.name, _NAMES),
        description=clean_text(metric.description, _NAMES) if metric.description is not None else None,
        unit=clean_text(metric.unit, _NAMES) if metric.unit is not None else None,
        data=new_data,
    )


def exportable_metrics(data: MetricsData) -> MetricsData:
    """``data`` as it can be encoded to OTLP (same contract as :func:`exportable_spans`). Never raises."""
    limit = max_attribute_length()
    try:
        if all(
            _shared_ok(rm.resource, _NAMES)
            and all(
                _shared_ok(sm.scope, _NAMES) and all(_metric_ok(m, limit) for m in sm.metrics)
                for sm in rm.scope_metrics
            )
            for rm in data.resource_metrics
        ):
            return data
        return MetricsData(
            resource_metrics=[
                ResourceMetrics(
                    resource=_repair_resource(rm.resource, _NAMES),
                    scope_metrics=[
                        ScopeMetrics(
                            scope=_repair_scope(sm.scope, _NAMES) or sm.scope,
                            metrics=[m if _metric_ok(m, limit) else _repaired_metric(m, limit) for m in sm.metrics],
                            schema_url=sm.schema_url,
                        )
                        for sm in rm.scope_metrics
                    ],
                    schema_url=rm.schema_url,
                )
                for rm in data.resource_metrics
            ]
        )
    except Exception:
        log_internal_error()
        return data
