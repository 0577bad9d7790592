"""Embedded statistics: the span processor, its immutable snapshot and the Prometheus exposition.

Example::

    tel = oc.configure("support-bot")  # installs a StatsSpanProcessor
    snapshot = tel.report()  # a StatsSnapshot
    print(snapshot.stage("generation"))
    text = render_prometheus(snapshot)  # what GET /metrics serves

Percentiles come from DDSketch (1% relative error) in bounded memory; the aggregation code has no OTel imports.
"""

from __future__ import annotations

from otel_chatbot.stats._exposition import CONTENT_TYPE, render_prometheus
from otel_chatbot.stats._processor import StatsSpanProcessor
from otel_chatbot.stats._snapshot import (
    CacheStats,
    ConversationRecord,
    CounterSeries,
    FeedbackStats,
    HistogramSeries,
    HistoryPoint,
    LatencyStats,
    ModelLatency,
    SpanRecord,
    StageStats,
    StatsSnapshot,
    StreamStats,
    TraceRecord,
    TurnRecord,
    UsageBreakdown,
    UsageStats,
    VariantStats,
)

__all__ = [
    "CONTENT_TYPE",
    "CacheStats",
    "ConversationRecord",
    "CounterSeries",
    "FeedbackStats",
    "HistogramSeries",
    "HistoryPoint",
    "LatencyStats",
    "ModelLatency",
    "SpanRecord",
    "StageStats",
    "StatsSnapshot",
    "StatsSpanProcessor",
    "StreamStats",
    "TraceRecord",
    "TurnRecord",
    "UsageBreakdown",
    "UsageStats",
    "VariantStats",
    "render_prometheus",
]
