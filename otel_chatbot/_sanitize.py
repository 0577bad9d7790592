"""Values made safe to export (issue 13, item 2): valid UTF-8, bounded length, numbers OTLP can hold.

Stub fixed by the lead so the export buffer and the sanitizer can be built side by side; the poison-proofing work
replaces the bodies, never the signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["exportable_metrics", "exportable_spans"]


def exportable_spans(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """``spans`` as they can be encoded to OTLP: the same objects when they already can (the common, cheap case),
    otherwise copies with invalid strings repaired, over-long values cut and out-of-range numbers removed (each
    removal counted with ``_losses.record_dropped``). Never raises."""
    return spans


def exportable_metrics(data: MetricsData) -> MetricsData:
    """``data`` as it can be encoded to OTLP (same contract as :func:`exportable_spans`). Never raises."""
    return data
