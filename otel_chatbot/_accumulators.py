"""Accumulators behind ``stats.Aggregator``: a DDSketch-backed latency group and Prometheus histogram series."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable
from typing import Any

from ddsketch import LogarithmicMapping

from otel_chatbot.snapshot import HistogramSeries, LatencyStats

RELATIVE_ACCURACY = 0.01
"""DDSketch relative accuracy: every reported percentile is within 1% of the true value at that rank."""
_BIN_LIMIT = 2048  # bins per sketch: covers 1 µs .. hours at 1% accuracy; memory is fixed whatever the span count


_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# DDSketch's key for value v is ceil(log2(v) * multiplier). LatencyAcc inlines that one line and keeps its bins in a
# plain dict: ddsketch's own add() runs four Python frames per value, which was half of the processor's per-span cost
# in benchmarks/bench_embedded.py. Quantiles are read back through ddsketch's mapping, so the accuracy guarantee is
# the library's.
_MULTIPLIER = math.log(2) / math.log1p(2 * RELATIVE_ACCURACY / (1 - RELATIVE_ACCURACY))


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
            key = math.ceil(math.log2(ms) * _MULTIPLIER)
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
