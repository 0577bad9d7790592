"""Accumulators behind ``stats.Aggregator``: DDSketch-backed latency groups, Prometheus histogram series, and the
per-stage, per-span-shape, per-stream, per-trace and per-variant state."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable
from typing import Any

from ddsketch import LogarithmicMapping

from otel_chatbot.stats._snapshot import FeedbackStats, HistogramSeries, LatencyStats

RELATIVE_ACCURACY = 0.01
"""DDSketch relative accuracy: every reported percentile is within 1% of the true value at that rank."""
_BIN_LIMIT = 2048  # bins per sketch: covers 1 µs .. hours at 1% accuracy; memory is fixed whatever the span count


_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# DDSketch's key for value v is ceil(log2(v) * multiplier). LatencyAcc inlines that one line and keeps its bins in a
# plain dict: ddsketch's own add() runs four Python frames per value, which was half of the processor's per-span cost
# in benchmarks/bench_embedded.py. Quantiles are read back through ddsketch's mapping, so the accuracy guarantee is
# the library's.
_MULTIPLIER = math.log(2) / math.log1p(2 * RELATIVE_ACCURACY / (1 - RELATIVE_ACCURACY))
_ceil, _log2 = math.ceil, math.log2


class LatencyAcc:
    """count / errors / sum / min / max / DDSketch bins / 3 slowest trace ids of a group of durations (ms)."""

    __slots__ = ("count", "errors", "total", "min", "max", "bins", "zeros", "slowest")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = 0.0
        self.bins: dict[int, int] = {}
        self.zeros = 0
        self.slowest: list[tuple[float, int]] = []  # min-heap of (ms, trace id), at most 3

    def add(self, ms: float, error: bool = False, trace_id: int = 0) -> None:
        """Add one duration."""
        self.count += 1
        self.total += ms
        if ms < self.min:
            self.min = ms
        if ms > self.max:
            self.max = ms
        if error:
            self.errors += 1
        if ms > 0:
            key = _ceil(_log2(ms) * _MULTIPLIER)
            bins = self.bins
            if key in bins:
                bins[key] += 1
            else:
                bins[key] = 1
                if len(bins) > _BIN_LIMIT:
                    self._collapse()
        else:
            self.zeros += 1
        if trace_id:
            slowest = self.slowest
            if len(slowest) < 3:
                heapq.heappush(slowest, (ms, trace_id))
            elif ms > slowest[0][0]:
                heapq.heapreplace(slowest, (ms, trace_id))

    @classmethod
    def merged(cls, parts: Iterable[LatencyAcc]) -> LatencyAcc:
        """One accumulator holding every value of ``parts`` (exact: the bins share one mapping)."""
        out = cls()
        for part in parts:
            out.count += part.count
            out.errors += part.errors
            out.total += part.total
            out.min = min(out.min, part.min)
            out.max = max(out.max, part.max)
            out.zeros += part.zeros
            for key, n in part.bins.items():
                out.bins[key] = out.bins.get(key, 0) + n
            out.slowest = heapq.nlargest(3, out.slowest + part.slowest)
        while len(out.bins) > _BIN_LIMIT:
            out._collapse()
        heapq.heapify(out.slowest)
        return out

    def _collapse(self) -> None:
        # Like ddsketch's LogCollapsingLowestDenseDDSketch: fold the lowest bin into the next one, so the tail
        # percentiles (the ones a latency report reads) keep their accuracy.
        low, second = sorted(self.bins)[:2]
        self.bins[second] += self.bins.pop(low)

    def quantile(self, q: float) -> float:
        """The q-quantile, as DDSketch computes it (0 when empty)."""
        if not self.count:
            return 0.0
        rank = q * (self.count - 1)
        seen = self.zeros
        if seen > rank:
            return 0.0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen > rank:
                return min(max(float(_MAPPING.value(key)), self.min), self.max)
        return self.max

    def stats(self) -> LatencyStats:
        """Freeze into a ``LatencyStats``."""
        if not self.count:
            return LatencyStats(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ())
        return LatencyStats(
            count=self.count,
            errors=self.errors,
            mean_ms=self.total / self.count,
            min_ms=self.min,
            max_ms=self.max,
            p50_ms=self.quantile(0.5),
            p95_ms=self.quantile(0.95),
            p99_ms=self.quantile(0.99),
            slowest_trace_ids=tuple(f"{tid:032x}" for _, tid in sorted(self.slowest, reverse=True)),
        )


class Hist:
    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # Prometheus buckets are upper-inclusive (le), hence bisect_left.
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1


class SeriesSet:
    """Label tuple -> histogram, capped like the span_metrics connector's aggregation_cardinality_limit."""

    def __init__(self, name: str, label_names: tuple[str, ...], bounds: tuple[float, ...], limit: int) -> None:
        self.name = name
        self.label_names = label_names
        self.bounds = bounds
        self.limit = limit
        self.series: dict[tuple[Any, ...], Hist] = {}

    def get(self, key: tuple[Any, ...]) -> Hist:
        """The histogram of ``key`` (created on first use; the overflow series once ``limit`` is reached)."""
        hist = self.series.get(key)
        if hist is None:
            if len(self.series) >= self.limit:
                key = ("__overflow__",)
                hist = self.series.get(key)
            if hist is None:
                hist = self.series[key] = Hist(self.bounds)
        return hist

    def observe(self, key: tuple[Any, ...], value: float) -> None:
        """Add ``value`` to the series ``key``."""
        self.get(key).observe(value)

    def labels(self, key: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
        if key == ("__overflow__",):
            return (("otel_metric_overflow", "true"),)
        return tuple((n, str(v)) for n, v in zip(self.label_names, key, strict=True) if v is not None and v != "")

    def frozen(self) -> list[HistogramSeries]:
        return [
            HistogramSeries(self.name, self.labels(k), self.bounds, tuple(h.counts), h.sum, h.count)
            for k, h in sorted(self.series.items(), key=lambda kv: tuple(str(x) for x in kv[0]))
        ]


_MAX_FEEDBACK_VALUES = 32


class StageAcc:
    __slots__ = (
        "models",
        "error_types",
        "cache_lookups",
        "cache_hits",
        "top_ns",
        "nested_ns",
        "top_count",
        "parents",
        "offset_ns",
        "offsets",
    )

    def __init__(self) -> None:
        # Latency per model ("" when the span names none). The stage's own latency is their merge at snapshot time
        # (DDSketch bins merge exactly), so a span costs one sketch update, not two.
        self.models: dict[str, LatencyAcc] = {}
        self.error_types: dict[str, int] = {}
        self.cache_lookups = 0
        self.cache_hits = 0
        # Filled when a trace's root ends (Aggregator._settle): time of the spans directly under the request (scaled
        # so a request's top-level stages never exceed its own time), time of the spans inside another stage, how
        # many spans were directly under the request and how many inside each other stage, and the summed offsets
        # of the stage's first span from its request's start, over ``offsets`` requests.
        self.top_ns = 0.0
        self.nested_ns = 0
        self.top_count = 0
        self.parents: dict[str, int] = {}
        self.offset_ns = 0
        self.offsets = 0

    def parent(self) -> str | None:
        """The enclosing stage seen most often (None: directly under the request); ties go to the request, then
        to the first name in alphabetical order."""
        if not self.parents:
            return None
        name, count = min(self.parents.items(), key=lambda kv: (-kv[1], kv[0]))
        return name if count > self.top_count else None


class Shape:
    """The accumulators of spans that share name, kind, status, stage, operation, model and provider."""

    __slots__ = ("duration", "error", "stage", "stage_name", "model", "labels")

    def __init__(self, duration: Hist) -> None:
        self.duration = duration
        self.error = False
        self.stage: StageAcc | None = None
        self.stage_name = ""
        self.model = _UNUSED  # a stage shape gets its (stage, model) accumulator
        self.labels: tuple[Any, Any, Any] = (None, None, None)


class StreamAcc:
    __slots__ = ("ttfc", "ttft", "output_tokens", "decode_s")

    def __init__(self) -> None:
        self.ttfc = LatencyAcc()  # time to first chunk (semconv: any generated content)
        self.ttft = LatencyAcc()  # time to first visible text token (falls back to the first chunk)
        self.output_tokens = 0
        self.decode_s = 0.0


class Pending:
    """Per-trace state kept until the trace's root span ends (the root ends last).

    ``spans`` holds each stage span as (span id, parent span id, stage, start ns, duration ns); the nesting is
    resolved from them once, when the root ends. A stage's enclosing stage may sit above spans of other kinds (an
    httpx CLIENT span, a framework's span): those end after the stage spans below them, so a span whose id is in
    ``wanted`` (a parent of a span kept so far) has its parent kept in ``up``, and only those: memory stays at the
    stage spans and their ancestors.
    """

    __slots__ = ("spans", "wanted", "up", "overflow", "variant")

    def __init__(self) -> None:
        self.spans: list[tuple[int, int, StageAcc, str, int, int]] = []  # id, parent id, stage, its name, start, ns
        self.wanted: set[int] = set()
        self.up: dict[int, int] = {}
        self.overflow: dict[str, int] = {}  # stage -> ns of the spans beyond the ones kept (bounded memory)
        self.variant: str | None = None


class VariantAcc:
    __slots__ = ("requests", "calls", "errors", "feedback_count", "feedback_sum", "fb_min", "fb_max", "values")

    def __init__(self) -> None:
        self.requests = LatencyAcc()
        self.calls = 0
        self.errors = 0
        self.feedback_count = 0
        self.feedback_sum = 0.0
        self.fb_min = float("inf")
        self.fb_max = float("-inf")
        self.values: dict[float, int] = {}

    def feedback(self, score: float) -> None:
        self.feedback_count += 1
        self.feedback_sum += score
        self.fb_min = min(self.fb_min, score)
        self.fb_max = max(self.fb_max, score)
        if score in self.values or len(self.values) < _MAX_FEEDBACK_VALUES:
            self.values[score] = self.values.get(score, 0) + 1

    def feedback_stats(self, name: str) -> FeedbackStats | None:
        if not self.feedback_count:
            return None
        return FeedbackStats(
            variant=name,
            count=self.feedback_count,
            mean=self.feedback_sum / self.feedback_count,
            min=self.fb_min,
            max=self.fb_max,
            distribution=tuple(sorted(self.values.items())),
        )


_UNUSED = LatencyAcc()
