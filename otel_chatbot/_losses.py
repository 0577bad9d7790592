"""Telemetry that could not be delivered, counted (issue 13, item 1): never dropped silently.

Every loss is one call to :func:`record_dropped` (a signal, a reason, a count). The counts are

* cumulative per (signal, reason) in a process-global table, from which ``CallMetrics`` exports the counter
  ``chatbot.telemetry.dropped`` (unit ``{item}``, attributes ``signal`` and ``reason``) with OTLP and shows it on the
  embedded ``/metrics`` as ``chatbot_telemetry_dropped_total``; counts recorded before any ``configure()`` are kept;
* summarised in one WARNING line per minute at most on the ``otel_chatbot`` logger, only when something was dropped
  in that minute. The line is written by the call that finds the minute over (a drop, a metrics collection, a
  ``/metrics`` scrape, the export buffer's thread), so no thread of its own is needed.

Signals: ``spans``, ``metrics``, ``attributes``, ``ledger_rows``. Reasons: ``buffer_full``, ``buffer_off``,
``queue_full``, ``invalid_value``, ``too_large``, ``shutdown`` (docs/reliability.md, "What is counted as dropped").
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["INSTRUMENT", "PROMETHEUS_NAME", "record_dropped"]

logger = logging.getLogger("otel_chatbot")

INSTRUMENT = "chatbot.telemetry.dropped"
"""The OTel instrument (a monotonic counter, unit ``{item}``, attributes ``signal`` and ``reason``)."""
PROMETHEUS_NAME = "chatbot_telemetry_dropped_total"
"""Its Prometheus name, as the Collector's prometheus exporter translates it."""
UNIT = "{item}"
DESCRIPTION = "Telemetry items otel_chatbot could not deliver, by signal and reason."

_WINDOW_S = 60.0


class Losses:
    """The counter table and the once-a-minute summary (one per process: :data:`_TABLE`; tests make their own).

    Args:
        clock: Seconds (monotonic), injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str], int] = {}
        self._window: dict[tuple[str, str], int] = {}
        self._last_log: float | None = None  # when the last summary line was written
        self._notes: dict[str, str] = {}
        self.start_ns = time.time_ns()

    def record(self, signal: str, reason: str, count: int = 1) -> None:
        """Count ``count`` items lost; writes the summary line when the minute since the last one is over."""
        if count <= 0:
            return
        key = (signal, reason)
        with self._lock:
            self._totals[key] = self._totals.get(key, 0) + count
            self._window[key] = self._window.get(key, 0) + count
        self.flush_log()

    def totals(self) -> dict[tuple[str, str], int]:
        """Every (signal, reason) counted since the process started (cumulative)."""
        with self._lock:
            return dict(self._totals)

    def note(self, reason: str, text: str) -> None:
        """A few words added to the summary line when ``reason`` is in it (e.g. the buffer's folder and size)."""
        with self._lock:
            self._notes[reason] = text

    def flush_log(self, *, force: bool = False) -> None:
        """Write the summary line if something was dropped and no line was written in the last minute (``force``:
        even within the minute, at shutdown)."""
        now = self._clock()
        with self._lock:
            if not self._window or (not force and self._last_log is not None and now - self._last_log < _WINDOW_S):
                return
            window, self._window = self._window, {}
            self._last_log = now
            notes = [self._notes[reason] for reason in sorted({r for _, r in window}) if reason in self._notes]
        by_signal: dict[str, list[str]] = {}
        for (signal, reason), count in sorted(window.items()):
            by_signal.setdefault(signal, []).append(f"{reason}={count}")
        summary = ", ".join(f"{signal} {' '.join(parts)}" for signal, parts in by_signal.items())
        suffix = f" ({'; '.join(notes)})" if notes else ""
        logger.warning("otel_chatbot: telemetry dropped in the last %d s: %s%s", int(_WINDOW_S), summary, suffix)

    def after_fork(self) -> None:
        """In a forked child: its own counts, and a new lock (the parent's may have been held at the fork)."""
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything (a forked child counts its own losses; tests)."""
        with self._lock:
            self._totals.clear()
            self._window.clear()
            self._notes.clear()
            self._last_log = None
            self.start_ns = time.time_ns()


_TABLE = Losses()


def record_dropped(signal: str, reason: str, count: int = 1) -> None:
    """Count ``count`` items of ``signal`` (``spans``, ``metrics``, ``attributes``, ``ledger_rows``...) lost for
    ``reason`` (``buffer_full``, ``buffer_off``, ``queue_full``, ``invalid_value``, ``too_large``, ``shutdown``).
    Cheap, thread safe, never raises."""
    try:
        _TABLE.record(signal, reason, int(count))
    except Exception:  # counting a loss must never become one: the last resort is the log
        logger.debug("otel_chatbot: could not count %s %s dropped items", count, signal, exc_info=True)


def totals() -> dict[tuple[str, str], int]:
    """The cumulative counts per (signal, reason) of this process."""
    return _TABLE.totals()


def flush_log(*, force: bool = False) -> None:
    """Write the pending summary line if its minute is over (called by metric collections and the buffer thread);
    ``force``: now, whatever the minute (at shutdown)."""
    try:
        _TABLE.flush_log(force=force)
    except Exception:
        logger.debug("otel_chatbot: could not log dropped telemetry", exc_info=True)


def note(reason: str, text: str) -> None:
    """Context for the summary line when ``reason`` is in it."""
    _TABLE.note(reason, text)


def start_ns() -> int:
    """When the counts started (the counter's start time)."""
    return _TABLE.start_ns


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_TABLE.after_fork)
