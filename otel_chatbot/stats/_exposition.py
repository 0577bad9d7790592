"""Prometheus text exposition (format 0.0.4) of a ``StatsSnapshot``: the ``GET /metrics`` body.

The metric names and labels are those the Collector's span_metrics connector and prometheus exporter produce
(the metric contract of docs/architecture.md), so one dashboard and one rule file serve the embedded and the Collector
deployments.

Example::

    text = render_prometheus(tel.report())
"""

from __future__ import annotations

import math

from otel_chatbot import semconv
from otel_chatbot._values import clean_text
from otel_chatbot.stats._snapshot import CounterSeries, HistogramSeries, StatsSnapshot

__all__ = ["CONTENT_TYPE", "render_prometheus"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of the text exposition format."""

_HELP = {
    semconv.METRIC_SPAN_DURATION: "Duration of spans in milliseconds (as the span_metrics connector).",
    semconv.METRIC_SPAN_CALLS: "Number of spans (as the span_metrics connector).",
    semconv.METRIC_INFERENCE_DURATION: "Duration of GenAI inference calls, in seconds.",
    semconv.METRIC_INPUT_TOKENS: "Input tokens of GenAI calls, by gen_ai_token_modality.",
    semconv.METRIC_OUTPUT_TOKENS: "Output tokens of GenAI calls, by gen_ai_token_modality.",
    semconv.METRIC_CACHE_READ_TOKENS: "Input tokens read from the provider's prompt cache.",
    semconv.METRIC_CACHE_WRITE_TOKENS: "Input tokens written to the provider's prompt cache.",
    semconv.METRIC_REASONING_TOKENS: "Reasoning output tokens of GenAI calls.",
    semconv.METRIC_OPERATION_INPUT_TOKENS: "Input tokens per GenAI call.",
    semconv.METRIC_OPERATION_OUTPUT_TOKENS: "Output tokens per GenAI call.",
    semconv.METRIC_COST: "USD spent on GenAI calls.",
    semconv.METRIC_TTFC: "Time to the first generated chunk of streamed GenAI calls, in seconds.",
    semconv.METRIC_TPOC: "Mean time per output chunk after the first of streamed GenAI calls, in seconds.",
    semconv.METRIC_TTFT: "Time to the first visible text token of streamed GenAI calls, in seconds.",
    semconv.METRIC_STAGE_DURATION: "Duration of chatbot stages, in seconds.",
    "chatbot_telemetry_dropped_total": "Telemetry items otel_chatbot could not deliver, by signal and reason.",
}


_LE_INF = 'le="+Inf"'


def _escape(value: str) -> str:
    # Valid UTF-8 first: a label value with a lone surrogate (a tenant id from a request) would make every later
    # scrape fail to encode, for the life of the process (the series are cumulative).
    return clean_text(str(value)).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple[tuple[str, str], ...], extra: str = "") -> str:
    body = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    if extra:
        body = f"{body},{extra}" if body else extra
    return "{" + body + "}" if body else ""


def _number(value: float) -> str:
    """A sample value in the text format; NaN and infinities as the format spells them (never an exception)."""
    try:
        number = float(value)
    except OverflowError:  # an int beyond a double
        return "+Inf" if value > 0 else "-Inf"
    if not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("+Inf" if number > 0 else "-Inf")
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _histogram_lines(series: HistogramSeries) -> list[str]:
    lines = []
    cumulative = 0
    name, labels = series.name, series.labels
    for bound, count in zip(series.bounds, series.bucket_counts, strict=False):
        cumulative += count
        le = 'le="' + _number(bound) + '"'
        lines.append(f"{name}_bucket{_labels(labels, le)} {cumulative}")
    lines.append(f"{name}_bucket{_labels(labels, _LE_INF)} {series.count}")
    lines.append(f"{name}_sum{_labels(labels)} {_number(series.sum)}")
    lines.append(f"{name}_count{_labels(labels)} {series.count}")
    return lines


def _counter_line(series: CounterSeries) -> str:
    return f"{series.name}{_labels(series.labels)} {_number(series.value)}"


def render_prometheus(snapshot: StatsSnapshot) -> str:
    """Render every series of ``snapshot`` as Prometheus text.

    Args:
        snapshot: From ``Telemetry.report()`` or ``StatsSpanProcessor.snapshot()``.

    Returns:
        The exposition text, ending with a newline (empty string when there is no series yet).
    """
    families: dict[str, tuple[str, list[str]]] = {}
    for hist in snapshot.histograms:
        families.setdefault(hist.name, ("histogram", []))[1].extend(_histogram_lines(hist))
    for counter in snapshot.counters:
        families.setdefault(counter.name, ("counter", []))[1].append(_counter_line(counter))
    out: list[str] = []
    for name, (kind, lines) in families.items():
        out.append(f"# HELP {name} {_HELP.get(name, name)}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(lines)
    return "\n".join(out) + "\n" if out else ""
