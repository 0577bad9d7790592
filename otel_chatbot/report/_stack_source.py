"""The web view's stack source: one ``StatsSnapshot`` from the native stack's Jaeger and Prometheus.

Jaeger's traces give what needs spans (stages with their nesting and order, streams, caches, the slowest and most
recent traces, conversations); Prometheus gives what must count every call (usage, summed over workers) and the
history (``query_range``: requests/s, latency percentiles, errors, USD and tokens per interval).

Example::

    from otel_chatbot.report._stack_source import load_stack

    snap = load_stack("http://127.0.0.1:16686", "http://127.0.0.1:9090", "rag-chatbot", since_s=3600)
"""

from __future__ import annotations

import dataclasses
import math
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from otel_chatbot import semconv
from otel_chatbot.report import _sources
from otel_chatbot.stats._snapshot import (
    ConversationRecord,
    HistoryPoint,
    SpanRecord,
    StatsSnapshot,
    TraceRecord,
    TurnRecord,
)

__all__ = ["load_stack", "stack_conversations", "stack_traces"]

_KEEP_TRACES = 20  # the slowest and the most recent, each
_KEEP_CONVERSATIONS = 50
_MAX_STRING = 1000  # characters of a string attribute kept for the view
_HISTORY_POINTS = 360
_MIN_STEP_S = 10.0


def load_stack(
    jaeger_url: str,
    prometheus_url: str,
    service: str,
    since_s: float = 3600.0,
    *,
    limit: int = 1000,
    timeout: float = 30.0,
    now: float | None = None,
) -> StatsSnapshot:
    """Everything the web view shows, from the stack: Jaeger's traces of ``service`` over the last ``since_s``
    seconds and Prometheus' series (usage since the Collector started, history over ``since_s``)."""
    end = time.time() if now is None else now
    docs = _jaeger_traces(jaeger_url, service, since_s, limit, timeout, end)
    snap = _sources.aggregate_jaeger_traces(docs, service).snapshot()
    prom = _sources.load_prometheus(prometheus_url, service=service, timeout=timeout)
    if prom.usage.by_stage or prom.usage.by_model:
        # Every call, summed over workers (Jaeger's traces are the sampled ones): the usage and the stages' USD.
        per_stage = {u.key: u for u in prom.usage.by_stage}
        stages = tuple(
            dataclasses.replace(s, cost_usd=u.cost_usd, input_tokens=u.input_tokens, output_tokens=u.output_tokens)
            if (u := per_stage.get(s.stage)) is not None
            else s
            for s in snap.stages
        )
        snap = dataclasses.replace(snap, stages=stages, usage=dataclasses.replace(snap.usage, **_counted(prom)))
    return dataclasses.replace(
        snap,
        generated_at=end,
        spans=max(snap.spans, prom.spans),
        history=stack_history(prometheus_url, service, since_s, timeout=timeout, now=end),
        traces=stack_traces(docs),
        conversations=stack_conversations(docs, service),
        source=f"stack: jaeger {jaeger_url}, prometheus {prometheus_url}",
    )


def _counted(prom: StatsSnapshot) -> dict[str, Any]:
    return {"by_model": prom.usage.by_model, "by_provider": prom.usage.by_provider, "by_stage": prom.usage.by_stage}


def _jaeger_traces(
    url: str, service: str, since_s: float, limit: int, timeout: float, end: float
) -> list[Mapping[str, Any]]:
    end_us = int(end * 1e6)
    query = urllib.parse.urlencode(
        {"service": service, "start": end_us - int(since_s * 1e6), "end": end_us, "limit": limit}
    )
    doc = _sources.fetch_json(f"{url.rstrip('/')}/api/traces?{query}", timeout)
    return list(doc.get("data") or [])


# --- history ---------------------------------------------------------------------------------------------------------


def stack_history(
    url: str, service: str, since_s: float, *, timeout: float = 30.0, now: float | None = None
) -> tuple[HistoryPoint, ...]:
    """Per-interval requests, errors, latency percentiles, USD, tokens and spans from Prometheus ``query_range``
    (at most 360 points, 10 s apart or more); oldest first.

    The counters' raw values are read per series and differenced here rather than with ``increase()``: a series
    that first appears inside the range (a new worker, or a short run whose one export holds all its calls) counts
    from zero, where ``increase()`` needs two samples in its window and misses it. A drop is a counter reset.
    """
    end = time.time() if now is None else now
    step = max(_MIN_STEP_S, math.ceil(since_s / _HISTORY_POINTS))
    start = end - since_s
    sel = f'service_name="{service}"'
    server = sel + ',span_kind="SPAN_KIND_SERVER"'
    calls, duration = semconv.METRIC_SPAN_CALLS, semconv.METRIC_SPAN_DURATION

    def deltas(query: str, by: str | None = None) -> dict[str, dict[float, float]]:
        return _deltas(_range(url, query, start, end, step, timeout), by, start)

    def total(query: str) -> dict[float, float]:
        return deltas(query).get("", {})

    requests = total(f"{calls}{{{server}}}")
    errors = total(f'{calls}{{{server},status_code="STATUS_CODE_ERROR"}}')
    buckets = deltas(f"{duration}_bucket{{{server}}}", by="le")
    cost = total(f"{semconv.METRIC_COST}{{{sel}}}")
    inputs = total(f"{semconv.METRIC_INPUT_TOKENS}{{{sel}}}")
    outputs = total(f"{semconv.METRIC_OUTPUT_TOKENS}{{{sel}}}")
    spans = total(f"{calls}{{{sel}}}")
    times = sorted(set(requests) | set(cost) | set(spans))
    points = []
    for t in (t for t in times if t > start):  # the range's first evaluation is every series' baseline
        hist = sorted(((_le(le), per_t.get(t, 0.0)) for le, per_t in buckets.items()), key=lambda b: b[0])
        points.append(
            HistoryPoint(
                start=t - step,
                interval_s=float(step),
                requests=round(requests.get(t, 0.0)),
                errors=round(errors.get(t, 0.0)),
                p50_ms=_quantile(0.5, hist),
                p95_ms=_quantile(0.95, hist),
                p99_ms=_quantile(0.99, hist),
                cost_usd=cost.get(t, 0.0),
                input_tokens=round(inputs.get(t, 0.0)),
                output_tokens=round(outputs.get(t, 0.0)),
                spans=round(spans.get(t, 0.0)),
            )
        )
    return tuple(points)


def _range(url: str, query: str, start: float, end: float, step: float, timeout: float) -> list[dict[str, Any]]:
    """One ``query_range`` answer: its series (``metric`` labels, ``values`` [[t, "v"], ...])."""
    params = urllib.parse.urlencode({"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step})
    doc = _sources.fetch_json(f"{url.rstrip('/')}/api/v1/query_range?{params}", timeout)
    if doc.get("status") != "success":
        raise ValueError(f"Prometheus query failed: {doc.get('error')}")
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def _deltas(series: Iterable[Mapping[str, Any]], by: str | None, start: float) -> dict[str, dict[float, float]]:
    """Each counter series' increase per evaluation, summed by the value of label ``by`` ("" for all).

    A series' first point counts from zero unless it is at the range's first evaluation, ``start`` (the
    baseline); a value below the previous one is a reset (the new value is the increase)."""
    out: dict[str, dict[float, float]] = {}
    for item in series:
        key = item["metric"].get(by, "") if by else ""
        per_t = out.setdefault(key, {})
        previous: float | None = None
        for raw_t, raw in item.get("values", []):
            t, value = float(raw_t), float(raw)
            if math.isnan(value):
                continue
            if previous is None:
                delta = 0.0 if t <= start + 1e-3 else value
            else:
                delta = value - previous if value >= previous else value
            per_t[t] = per_t.get(t, 0.0) + delta
            previous = value
    return out


def _le(value: str) -> float:
    return math.inf if value in ("+Inf", "Inf", "inf") else float(value)


def _quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """``histogram_quantile`` over (upper bound, count in that bucket and below) pairs; None when empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower
            if cumulative == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (cumulative - below)
        lower, below = upper, cumulative
    return lower


# --- traces ----------------------------------------------------------------------------------------------------------


def _attributes(span: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in span.get("tags", []):
        value = _sources.tag_value(tag)
        if isinstance(value, str) and len(value) > _MAX_STRING:
            value = value[:_MAX_STRING] + "…"
        out[tag["key"]] = value
    return out


def _parent(span: Mapping[str, Any]) -> str | None:
    return next((r["spanID"] for r in span.get("references", []) if r.get("refType") == "CHILD_OF"), None)


def _trace_record(doc: Mapping[str, Any], reasons: tuple[str, ...]) -> TraceRecord:
    spans = list(doc.get("spans", []))
    ids = {s["spanID"] for s in spans}
    first_us = min(int(s["startTime"]) for s in spans)
    last_us = max(int(s["startTime"]) + int(s["duration"]) for s in spans)
    roots = [s for s in spans if _parent(s) not in ids]
    root = min(roots or spans, key=lambda s: int(s["startTime"]))
    depth: dict[str, int] = {}

    def depth_of(span: Mapping[str, Any]) -> int:
        sid = span["spanID"]
        if sid not in depth:
            parent = _parent(span)
            depth[sid] = 0  # guards a malformed cycle
            depth[sid] = 0 if parent not in ids else 1 + depth_of(by_id[parent])
        return depth[sid]

    by_id = {s["spanID"]: s for s in spans}
    records = []
    error = False
    for span in sorted(spans, key=lambda s: (int(s["startTime"]), depth_of(s))):
        attrs = _attributes(span)
        status = str(attrs.pop("otel.status_code", "UNSET")).upper()
        if attrs.pop("error", False) is True:
            status = "ERROR"
        error = error or status == "ERROR"
        kind = _sources.KINDS.get(str(attrs.pop("span.kind", "internal")), "SPAN_KIND_INTERNAL")
        parent = _parent(span)
        records.append(
            SpanRecord(
                span_id=f"{int(span['spanID'], 16):016x}",
                parent_id=None if parent is None else f"{int(parent, 16):016x}",
                name=span["operationName"],
                kind=kind,
                status=f"STATUS_CODE_{status}",
                start_ms=(int(span["startTime"]) - first_us) / 1000,
                duration_ms=int(span["duration"]) / 1000,
                attributes=attrs,
            )
        )
    return TraceRecord(
        trace_id=f"{int(doc['traceID'], 16):032x}",
        root_name=root["operationName"],
        start=first_us / 1e6,
        duration_ms=(last_us - first_us) / 1000,
        error=error,
        reasons=reasons,
        spans=tuple(records),
    )


def stack_traces(docs: Sequence[Mapping[str, Any]], keep: int = _KEEP_TRACES) -> tuple[TraceRecord, ...]:
    """The ``keep`` slowest and ``keep`` most recent of Jaeger's traces (slowest first, then the recent ones)."""
    docs = [d for d in docs if d.get("spans")]

    def extent(doc: Mapping[str, Any]) -> tuple[int, int]:
        starts = [int(s["startTime"]) for s in doc["spans"]]
        ends = [int(s["startTime"]) + int(s["duration"]) for s in doc["spans"]]
        return min(starts), max(ends) - min(starts)

    slowest = sorted(docs, key=lambda d: -extent(d)[1])[:keep]
    recent = sorted(docs, key=lambda d: -extent(d)[0])[:keep]
    reasons: dict[str, list[str]] = {}
    for doc in slowest:
        reasons.setdefault(doc["traceID"], []).append("slowest")
    for doc in recent:
        reasons.setdefault(doc["traceID"], []).append("recent")
    chosen = {d["traceID"]: d for d in [*slowest, *recent]}
    return tuple(_trace_record(doc, tuple(reasons[tid])) for tid, doc in chosen.items())


# --- conversations ---------------------------------------------------------------------------------------------------


def stack_conversations(
    docs: Iterable[Mapping[str, Any]], service: str, keep: int = _KEEP_CONVERSATIONS
) -> tuple[ConversationRecord, ...]:
    """One turn per trace that has a ``gen_ai.conversation.id``; conversations most recent first, turns oldest
    first. A turn's tokens and USD are its calls' usage counted once, as the aggregator counts them."""
    turns: dict[str, list[TurnRecord]] = {}
    who: dict[str, tuple[str | None, str | None, str | None]] = {}
    for doc in docs:
        processes = doc.get("processes", {})
        spans = [s for s in doc.get("spans", []) if processes.get(s.get("processID"), {}).get("serviceName") == service]
        if not spans:
            continue
        attrs = [_attributes(s) for s in spans]
        conv = next((a[semconv.GEN_AI_CONVERSATION_ID] for a in attrs if semconv.GEN_AI_CONVERSATION_ID in a), None)
        if conv is None:
            continue
        conv = str(conv)
        turns.setdefault(conv, []).append(_turn(doc, spans, attrs))
        first = who.get(conv, (None, None, None))
        who[conv] = (
            first[0] or _first(attrs, semconv.USER_ID),
            first[1] or _first(attrs, semconv.CHATBOT_TENANT_ID),
            first[2] or _first(attrs, semconv.CHATBOT_VARIANT),
        )
    records = [
        ConversationRecord(conv, *who[conv], turns=tuple(sorted(ts, key=lambda t: t.start)))
        for conv, ts in turns.items()
    ]
    records.sort(key=lambda c: -c.turns[-1].start)
    return tuple(records[:keep])


def _first(attrs: Sequence[Mapping[str, Any]], key: str) -> str | None:
    return next((str(a[key]) for a in attrs if a.get(key) is not None), None)


def _turn(doc: Mapping[str, Any], spans: Sequence[Mapping[str, Any]], attrs: Sequence[Mapping[str, Any]]) -> TurnRecord:
    ids = {s["spanID"] for s in spans}
    root_i = min(
        range(len(spans)), key=lambda i: (_parent(spans[i]) in ids, int(spans[i]["startTime"]))
    )  # the span without a parent here, the earliest one
    root, root_attrs = spans[root_i], attrs[root_i]
    inp = out = 0
    cost = 0.0
    ttft_ms: float | None = None
    model: str | None = None
    error = str(root_attrs.get("otel.status_code", "")).upper() == "ERROR" or root_attrs.get("error") is True
    for a in attrs:
        counted = (a.get(semconv.CHATBOT_STAGE) is not None or a.get(semconv.CHATBOT_USAGE_STAGE) is not None) and (
            not a.get(semconv.CHATBOT_USAGE_DEFERRED)
        )
        if counted:
            inp += int(a.get(semconv.GEN_AI_USAGE_INPUT_TOKENS) or 0)
            out += int(a.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS) or 0)
            cost += float(a.get(semconv.GEN_AI_USAGE_COST_AMOUNT) or 0.0)
        if a.get(semconv.CHATBOT_STAGE) == semconv.Stage.GENERATION.value:
            model = model or (
                None if a.get(semconv.GEN_AI_REQUEST_MODEL) is None else str(a[semconv.GEN_AI_REQUEST_MODEL])
            )
            first = a.get(
                semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN, a.get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
            )
            if first is not None and ttft_ms is None:
                ttft_ms = float(first) * 1000
    return TurnRecord(
        trace_id=f"{int(doc['traceID'], 16):032x}",
        start=int(root["startTime"]) / 1e6,
        latency_ms=int(root["duration"]) / 1000,
        ttft_ms=ttft_ms,
        input_tokens=inp,
        output_tokens=out,
        cost_usd=cost,
        model=model,
        error=error,
    )
