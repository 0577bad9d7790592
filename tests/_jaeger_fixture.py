"""Finished OTel spans → the JSON Jaeger's ``GET /api/traces`` answers (what ``otel-chatbot report --jaeger`` reads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    return {"key": key, "type": "string", "value": str(value)}


def jaeger_traces(spans: Sequence[ReadableSpan], service: str) -> dict[str, Any]:
    traces: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        ctx = span.context
        assert ctx is not None and span.start_time is not None and span.end_time is not None
        tags = [_tag(k, v) for k, v in (span.attributes or {}).items()]
        tags.append(_tag("span.kind", span.kind.name.lower()))
        if span.status.status_code is StatusCode.ERROR:
            tags += [_tag("otel.status_code", "ERROR"), _tag("error", True)]
        elif span.status.status_code is StatusCode.OK:
            tags.append(_tag("otel.status_code", "OK"))
        refs = []
        if span.parent is not None:
            refs.append(
                {"refType": "CHILD_OF", "traceID": f"{ctx.trace_id:032x}", "spanID": f"{span.parent.span_id:016x}"}
            )
        logs = [
            {
                "timestamp": e.timestamp // 1000,
                "fields": [_tag("event", e.name)] + [_tag(k, v) for k, v in (e.attributes or {}).items()],
            }
            for e in span.events
        ]
        traces.setdefault(f"{ctx.trace_id:032x}", []).append(
            {
                "traceID": f"{ctx.trace_id:032x}",
                "spanID": f"{ctx.span_id:016x}",
                "operationName": span.name,
                "references": refs,
                "startTime": span.start_time // 1000,
                "duration": (span.end_time - span.start_time) // 1000,
                "tags": tags,
                "logs": logs,
                "processID": "p1",
            }
        )
    data = [
        {"traceID": tid, "spans": s, "processes": {"p1": {"serviceName": service, "tags": []}}}
        for tid, s in traces.items()
    ]
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}
