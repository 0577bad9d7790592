"""Where ``otel-chatbot report`` reads statistics from: an app's /metrics/latency, a dump file, Jaeger, Prometheus.

Jaeger traces go through the same ``stats.Aggregator`` as live spans, so the two agree to the microsecond rounding
of Jaeger's timestamps. Prometheus answers stage latency from the span_metrics histograms (sampled spans; its
percentiles carry bucket error) and usage from the apps' SDK metrics (every call, summed over worker instances).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from otel_chatbot import semconv
from otel_chatbot.stats._aggregator import Aggregator
from otel_chatbot.stats._snapshot import (
    LatencyStats,
    StageStats,
    StatsSnapshot,
    StreamStats,
    UsageBreakdown,
    UsageStats,
)

KINDS = {
    "server": "SPAN_KIND_SERVER",
    "client": "SPAN_KIND_CLIENT",
    "producer": "SPAN_KIND_PRODUCER",
    "consumer": "SPAN_KIND_CONSUMER",
    "internal": "SPAN_KIND_INTERNAL",
}


def fetch_json(url: str, timeout: float = 10.0) -> Any:
    """GET ``url`` and decode its JSON body."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def from_latency_json(
    doc: Mapping[str, Mapping[str, Any]], *, service: str = "app", source: str = "/metrics/latency"
) -> StatsSnapshot:
    """A snapshot holding the stage table of a ``/metrics/latency`` document (the rest is empty)."""
    stages = tuple(
        StageStats(
            stage=name,
            latency=LatencyStats(
                count=int(v["count"]),
                errors=0,
                mean_ms=float(v["mean_ms"]),
                min_ms=0.0,
                max_ms=0.0,
                p50_ms=float(v["p50_ms"]),
                p95_ms=float(v["p95_ms"]),
                p99_ms=float(v["p99_ms"]),
            ),
            share=None if v.get("share") is None else float(v["share"]),
        )
        for name, v in doc.items()  # the document lists stages in request order
    )
    return StatsSnapshot(service_name=service, generated_at=time.time(), stages=stages, source=source)


def load_url(url: str, *, timeout: float = 10.0) -> StatsSnapshot:
    """Read a running app's ``/metrics/latency`` (the path is added when ``url`` is the app's base URL)."""
    if not urllib.parse.urlsplit(url).path.rstrip("/").endswith("/metrics/latency"):
        url = url.rstrip("/") + "/metrics/latency"
    return from_latency_json(fetch_json(url, timeout), service=urllib.parse.urlsplit(url).netloc, source=url)


def load_file(path: str) -> StatsSnapshot:
    """Read a ``Telemetry.dump`` file, a ``report --format json`` file, or a saved ``/metrics/latency`` document."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and isinstance(data.get("snapshot"), dict):
        data = data["snapshot"]
    if isinstance(data, dict) and "format" in data:
        snap = StatsSnapshot.from_dict(data)
        return snap if snap.source != "embedded" else _with_source(snap, path)
    return from_latency_json(data, source=path)


def _with_source(snap: StatsSnapshot, source: str) -> StatsSnapshot:
    return dataclasses.replace(snap, source=source)


# --- Jaeger ----------------------------------------------------------------------------------------------------------


def tag_value(tag: Mapping[str, Any]) -> Any:
    value = tag.get("value")
    kind = str(tag.get("type", "string")).lower()
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "int64":
        return int(value)  # type: ignore[arg-type]
    if kind == "float64":
        return float(value)  # type: ignore[arg-type]
    return value


def aggregate_jaeger_traces(traces: Iterable[Mapping[str, Any]], service: str) -> Aggregator:
    """Feed Jaeger's ``/api/traces`` ``data`` array through the same aggregator as live spans."""
    agg = Aggregator(service_name=service)
    for trace_doc in traces:
        processes = trace_doc.get("processes", {})
        spans = list(trace_doc.get("spans", []))
        by_id = {s["spanID"]: s for s in spans}
        records = [r for span in spans if (r := _jaeger_record(span, by_id, processes, service)) is not None]
        # Children before their root, as spans end in a live process (a child that ends in the same microsecond as
        # its parent started later: it goes first, so the nesting walk finds the parent's link).
        for _, _, args in sorted(records, key=lambda r: (r[0], r[1], -r[2][5])):
            agg.record(*args)
    return agg


def _jaeger_record(
    span: Mapping[str, Any], by_id: Mapping[Any, Mapping[str, Any]], processes: Mapping[Any, Any], service: str
) -> tuple[int, bool, tuple[Any, ...]] | None:
    """One Jaeger span as ``(end, is_root, Aggregator.record arguments)``; None for another service's span."""
    attrs = {t["key"]: tag_value(t) for t in span.get("tags", [])}
    parent = next((r["spanID"] for r in span.get("references", []) if r.get("refType") == "CHILD_OF"), None)
    # The request's root: no parent, or a parent in another process (another service's span).
    is_root = parent not in by_id or by_id[parent].get("processID") != span.get("processID")
    status = str(attrs.pop("otel.status_code", "UNSET")).upper()
    if attrs.pop("error", False) is True:
        status = "ERROR"
    kind = KINDS.get(str(attrs.pop("span.kind", "internal")), "SPAN_KIND_INTERNAL")
    feedback = []
    for log in span.get("logs", []):
        fields = {f["key"]: tag_value(f) for f in log.get("fields", [])}
        if fields.pop("event", None) == semconv.CHATBOT_FEEDBACK_EVENT:
            feedback.append(fields)
    start = int(span["startTime"]) * 1000
    end = start + int(span["duration"]) * 1000
    proc = processes.get(span.get("processID"), {})
    if proc.get("serviceName", service) != service:
        return None
    return (
        end,
        is_root,
        (
            int(span["traceID"], 16),
            is_root,
            span["operationName"],
            kind,
            f"STATUS_CODE_{status}",
            start,
            end,
            attrs,
            feedback,
            int(span["spanID"], 16),
            int(parent, 16) if parent is not None else 0,
        ),
    )


def load_jaeger(url: str, *, service: str, since_s: float, limit: int = 1000, timeout: float = 30.0) -> StatsSnapshot:
    """Query Jaeger's ``/api/traces`` for ``service`` over the last ``since_s`` seconds and aggregate them."""
    end_us = int(time.time() * 1e6)
    query = urllib.parse.urlencode(
        {"service": service, "start": end_us - int(since_s * 1e6), "end": end_us, "limit": limit}
    )
    doc = fetch_json(f"{url.rstrip('/')}/api/traces?{query}", timeout)
    return _with_source(aggregate_jaeger_traces(doc.get("data") or [], service).snapshot(), f"jaeger {url}")


# --- Prometheus ------------------------------------------------------------------------------------------------------


def _prom_query(url: str, query: str, timeout: float) -> list[tuple[dict[str, str], float]]:
    doc = fetch_json(f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout)
    if doc.get("status") != "success":
        raise ValueError(f"Prometheus query failed: {doc.get('error')}")
    out = []
    for item in doc["data"]["result"]:
        value = float(item["value"][1])
        if not math.isnan(value):
            out.append((item["metric"], value))
    return out


class _Prometheus:
    """PromQL over counters and histograms: totals since the Collector started, or increases over ``since_s``."""

    def __init__(self, url: str, since_s: float | None, timeout: float) -> None:
        self.url = url
        self.since_s = since_s
        self.timeout = timeout

    def sum_by(self, metric: str, selector: str, by: str) -> str:
        inner = f"{metric}{{{selector}}}"
        if self.since_s:
            inner = f"increase({inner}[{int(self.since_s)}s])"
        return f"sum by ({by}) ({inner})"

    def query(self, query: str) -> list[tuple[dict[str, str], float]]:
        return _prom_query(self.url, query, self.timeout)

    def per_stage(self, query: str) -> dict[str, float]:
        return {m.get("chatbot_stage", ""): v for m, v in self.query(query)}


def load_prometheus(
    url: str, *, service: str | None, since_s: float | None = None, timeout: float = 30.0
) -> StatsSnapshot:
    """Per-stage latency and shares from the span_metrics series, calls, tokens and spend from the SDK metrics.

    Percentiles come from ``histogram_quantile`` over the GenAI duration buckets (bucket error, not sketch error);
    a stage's share is its summed duration over the summed duration of SERVER spans (the requests' roots). Usage
    (per model and per stage) reads the SDK counters, which count every call whether or not its trace was sampled;
    their series carry one ``instance`` per worker process and are summed.
    """
    prom = _Prometheus(url, since_s, timeout)
    sel = f'service_name="{service}"' if service else ""
    usage = UsageBreakdown(
        by_model=_prometheus_usage(prom, sel, "gen_ai_request_model"),
        by_provider=_prometheus_usage(prom, sel, "gen_ai_provider_name"),
        by_stage=_prometheus_usage(prom, sel, "chatbot_stage"),
    )
    per_stage = {u.key: u for u in usage.by_stage}
    stages = tuple(
        dataclasses.replace(s, cost_usd=u.cost_usd, input_tokens=u.input_tokens, output_tokens=u.output_tokens)
        if (u := per_stage.get(s.stage)) is not None
        else s
        for s in _prometheus_stages(prom, sel)
    )
    spans = sum(v for _, v in prom.query(prom.sum_by(semconv.METRIC_SPAN_CALLS, sel, "service_name")))
    return StatsSnapshot(
        service_name=service or "",
        generated_at=time.time(),
        spans=round(spans),
        requests=_prometheus_requests(prom, sel),
        stages=stages,
        streams=_prometheus_streams(prom, sel),
        usage=usage,
        source=f"prometheus {url}",
    )


def _prometheus_requests(prom: _Prometheus, sel: str) -> LatencyStats | None:
    """Latency of the requests: the SERVER spans' span-metrics histogram (None when there is none)."""
    root_sel = ",".join(x for x in (sel, 'span_kind="SPAN_KIND_SERVER"') if x)
    duration = semconv.METRIC_SPAN_DURATION

    def total(metric: str, extra: str = "") -> float:
        return sum(v for _, v in prom.query(prom.sum_by(metric, root_sel + extra, "service_name")))

    count = total(semconv.METRIC_SPAN_CALLS)
    if not count:
        return None
    buckets = prom.sum_by(duration + "_bucket", root_sel, "le")
    quantiles = {q: sum(v for _, v in prom.query(f"histogram_quantile({q}, {buckets})")) for q in (0.5, 0.95, 0.99)}
    return LatencyStats(
        count=round(count),
        errors=round(total(semconv.METRIC_SPAN_CALLS, ',status_code="STATUS_CODE_ERROR"')),
        mean_ms=total(duration + "_sum") / count,
        min_ms=0.0,
        max_ms=0.0,
        p50_ms=quantiles[0.5],
        p95_ms=quantiles[0.95],
        p99_ms=quantiles[0.99],
    )


def _prometheus_streams(prom: _Prometheus, sel: str) -> tuple[StreamStats, ...]:
    """Time to first token and first chunk per (stage, model) from the SDK's stream histograms (every stream, summed
    over workers); output tokens/s = output tokens ÷ (inference seconds after the first chunk) of the same calls."""
    by = "chatbot_stage, gen_ai_request_model"

    def per_key(query: str) -> dict[tuple[str, str], float]:
        return {(m.get("chatbot_stage", ""), m.get("gen_ai_request_model", "")): v for m, v in prom.query(query)}

    def quantiles(metric: str) -> dict[float, dict[tuple[str, str], float]]:
        buckets = prom.sum_by(metric + "_bucket", sel, by + ", le")
        return {q: per_key(f"histogram_quantile({q}, {buckets})") for q in (0.5, 0.95, 0.99)}

    ttft_n = per_key(prom.sum_by(semconv.METRIC_TTFT + "_count", sel, by))
    ttfc_n = per_key(prom.sum_by(semconv.METRIC_TTFC + "_count", sel, by))
    keys = sorted(k for k in set(ttft_n) | set(ttfc_n) if ttft_n.get(k) or ttfc_n.get(k))
    if not keys:
        return ()
    ttft, ttfc = quantiles(semconv.METRIC_TTFT), quantiles(semconv.METRIC_TTFC)
    ttfc_s = per_key(prom.sum_by(semconv.METRIC_TTFC + "_sum", sel, by))
    infer_s = per_key(prom.sum_by(semconv.METRIC_INFERENCE_DURATION + "_sum", sel, by))
    output = per_key(prom.sum_by(semconv.METRIC_OUTPUT_TOKENS, sel, by))
    out = []
    for key in keys:
        first = ttft if ttft_n.get(key) else ttfc  # a stream without visible text: the first chunk stands for it
        decode_s = infer_s.get(key, 0.0) - ttfc_s.get(key, 0.0)
        out.append(
            StreamStats(
                stage=key[0],
                model=key[1],
                count=round(max(ttft_n.get(key, 0.0), ttfc_n.get(key, 0.0))),
                ttft_p50_ms=first[0.5].get(key, 0.0) * 1000,
                ttft_p95_ms=first[0.95].get(key, 0.0) * 1000,
                ttft_p99_ms=first[0.99].get(key, 0.0) * 1000,
                output_tokens_per_s=output[key] / decode_s if output.get(key) and decode_s > 0 else None,
                ttfc_p50_ms=ttfc[0.5].get(key, 0.0) * 1000,
                ttfc_p95_ms=ttfc[0.95].get(key, 0.0) * 1000,
                ttfc_p99_ms=ttfc[0.99].get(key, 0.0) * 1000,
            )
        )
    return tuple(out)


def _prometheus_stages(prom: _Prometheus, sel: str) -> tuple[StageStats, ...]:
    """Calls, errors, mean and quantiles per ``chatbot_stage``; shares against the SERVER spans' summed duration."""
    stage_sel = ",".join(x for x in (sel, 'chatbot_stage!=""') if x)
    calls, duration = semconv.METRIC_SPAN_CALLS, semconv.METRIC_SPAN_DURATION
    counts = prom.per_stage(prom.sum_by(calls, stage_sel, "chatbot_stage"))
    errors = prom.per_stage(prom.sum_by(calls, stage_sel + ',status_code="STATUS_CODE_ERROR"', "chatbot_stage"))
    sums = prom.per_stage(prom.sum_by(duration + "_sum", stage_sel, "chatbot_stage"))
    buckets = prom.sum_by(duration + "_bucket", stage_sel, "chatbot_stage, le")
    quantiles = {q: prom.per_stage(f"histogram_quantile({q}, {buckets})") for q in (0.5, 0.95, 0.99)}
    root_sel = ",".join(x for x in (sel, 'span_kind="SPAN_KIND_SERVER"') if x)
    root_ms = sum(v for _, v in prom.query(prom.sum_by(duration + "_sum", root_sel, "service_name")))
    return tuple(
        StageStats(
            stage=stage,
            latency=LatencyStats(
                count=round(n),
                errors=round(errors.get(stage, 0.0)),
                mean_ms=sums.get(stage, 0.0) / n if n else 0.0,
                min_ms=0.0,
                max_ms=0.0,
                p50_ms=quantiles[0.5].get(stage, 0.0),
                p95_ms=quantiles[0.95].get(stage, 0.0),
                p99_ms=quantiles[0.99].get(stage, 0.0),
            ),
            share=sums.get(stage, 0.0) / root_ms if root_ms else None,
        )
        for stage, n in sorted(counts.items())
    )


def _prometheus_usage(prom: _Prometheus, sel: str, label: str) -> tuple[UsageStats, ...]:
    """Calls, tokens and spend per value of ``label``, highest spend first (then most tokens).

    Calls are the counted inference calls (``gen_ai.client.inference.duration`` observations); a key with spend but no
    counted call (a cost recorded without a duration) still shows.
    """

    def by_key(metric: str) -> dict[str, float]:
        return {m.get(label, ""): v for m, v in prom.query(prom.sum_by(metric, sel, label))}

    calls = by_key(semconv.METRIC_INFERENCE_DURATION + "_count")
    inputs = by_key(semconv.METRIC_INPUT_TOKENS)
    outputs = by_key(semconv.METRIC_OUTPUT_TOKENS)
    cached = by_key(semconv.METRIC_CACHE_READ_TOKENS)
    cost = by_key(semconv.METRIC_COST)
    keys = set(calls) | set(inputs) | set(outputs) | set(cost)
    rows = (
        UsageStats(
            key,
            round(calls.get(key, 0.0)),
            round(inputs.get(key, 0.0)),
            round(outputs.get(key, 0.0)),
            round(cached.get(key, 0.0)),
            cost.get(key, 0.0),
        )
        for key in keys
    )
    return tuple(sorted(rows, key=lambda u: (-u.cost_usd, -(u.input_tokens + u.output_tokens), u.key)))


# --- the stack (Jaeger + Prometheus), for the web view: otel_chatbot/report/_stack_source.py --------------------------

from otel_chatbot.report._stack_source import load_stack  # noqa: E402  (it reads this module's helpers)

__all__ = ["load_file", "load_jaeger", "load_prometheus", "load_stack", "load_url"]
