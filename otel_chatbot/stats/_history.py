"""The bounded in-process history behind ``StatsSnapshot.history``: a ring of fixed intervals (no OTel imports).

Each interval keeps its request count, errors, a small log-bucket latency sketch, usage and span count, so memory is
``points`` slots whatever the number of spans. Spans are placed by their end time; a span older than the ring is
dropped (it would land in a slot that now holds a newer interval).

Example::

    history = History(interval_s=10.0, points=360)
    history.add_request(end_ns, duration_ms, error=False)
    history.add_usage(end_ns, input_tokens=812, output_tokens=95, cost_nusd=178_800)
    points = history.points(now=time.time())
"""

from __future__ import annotations

import math

from otel_chatbot.stats._snapshot import HistoryPoint

__all__ = ["History", "RELATIVE_ACCURACY"]

RELATIVE_ACCURACY = 0.02
"""Accuracy of the per-interval percentiles (DDSketch's log mapping): coarser than the report's 1%, half the bins."""
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LN_GAMMA = math.log(_GAMMA)
_MAX_BINS = 256  # per interval: 2% buckets span 1 µs .. 10^4 s in ~580 bins; more than 256 folds the lowest ones
_NANO = 1_000_000_000
_ceil, _log = math.ceil, math.log


class _Slot:
    """One interval of the ring."""

    __slots__ = (
        "index",
        "requests",
        "errors",
        "bins",
        "zeros",
        "min",
        "max",
        "cost_nusd",
        "input_tokens",
        "output_tokens",
        "spans",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.requests = 0
        self.errors = 0
        self.bins: dict[int, int] = {}
        self.zeros = 0
        self.min = math.inf
        self.max = 0.0
        self.cost_nusd = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.spans = 0

    def add_latency(self, ms: float) -> None:
        if ms < self.min:
            self.min = ms
        if ms > self.max:
            self.max = ms
        if ms <= 0:
            self.zeros += 1
            return
        key = _ceil(_log(ms) / _LN_GAMMA)
        bins = self.bins
        bins[key] = bins.get(key, 0) + 1
        if len(bins) > _MAX_BINS:
            low, second = sorted(bins)[:2]  # keep the tail exact: fold the lowest bin into the next one
            bins[second] += bins.pop(low)

    def quantile(self, q: float) -> float | None:
        count = self.zeros + sum(self.bins.values())
        if not count:
            return None
        rank = q * (count - 1)
        seen = self.zeros
        if seen > rank:
            return 0.0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen > rank:
                # The bucket's midpoint in relative terms (DDSketch's value), within the interval's exact min and max.
                return min(max(2 * _GAMMA**key / (_GAMMA + 1), self.min), self.max)
        return self.max


class History:
    """A ring of ``points`` intervals of ``interval_s`` seconds each (oldest overwritten).

    Args:
        interval_s: Seconds per interval (> 0).
        points: Intervals kept (>= 1).
    """

    def __init__(self, *, interval_s: float = 10.0, points: int = 360) -> None:
        if not interval_s > 0 or not math.isfinite(interval_s):
            raise ValueError(f"history_interval_s must be a positive number of seconds, got {interval_s!r}")
        if points < 1:
            raise ValueError(f"history_points must be >= 1, got {points!r}")
        self.interval_s = float(interval_s)
        self._interval_ns = round(interval_s * _NANO)
        self._ring: list[_Slot | None] = [None] * points
        self._newest = -1
        self.late_spans = 0
        """Spans that ended before the oldest interval the ring still holds (not counted)."""

    def slot(self, end_ns: int) -> _Slot | None:
        """The slot of the interval holding ``end_ns`` (None when the ring has moved past it)."""
        index = end_ns // self._interval_ns
        ring = self._ring
        pos = index % len(ring)
        slot = ring[pos]
        if slot is not None and slot.index == index:
            return slot
        if slot is not None and slot.index > index:
            self.late_spans += 1
            return None
        if index <= self._newest - len(ring):
            self.late_spans += 1
            return None
        slot = ring[pos] = _Slot(index)
        if index > self._newest:
            self._newest = index
        return slot

    def points(self, now: float) -> tuple[HistoryPoint, ...]:
        """The intervals from the oldest one with data to the current one (``now``), oldest first; empty ones as 0."""
        ring = self._ring
        held = {s.index: s for s in ring if s is not None}
        if not held:
            return ()
        last = max(int(now * _NANO) // self._interval_ns, self._newest)
        first = max(min(held), last - len(ring) + 1)
        return tuple(self._point(i, held.get(i)) for i in range(first, last + 1))

    def _point(self, index: int, slot: _Slot | None) -> HistoryPoint:
        start = index * self._interval_ns / _NANO
        if slot is None:
            return HistoryPoint(start, self.interval_s, 0, 0, None, None, None, 0.0, 0, 0, 0)
        return HistoryPoint(
            start=start,
            interval_s=self.interval_s,
            requests=slot.requests,
            errors=slot.errors,
            p50_ms=slot.quantile(0.5),
            p95_ms=slot.quantile(0.95),
            p99_ms=slot.quantile(0.99),
            cost_usd=slot.cost_nusd / _NANO,
            input_tokens=slot.input_tokens,
            output_tokens=slot.output_tokens,
            spans=slot.spans,
        )
