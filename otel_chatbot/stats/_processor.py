"""``StatsSpanProcessor``: a thin, thread-safe, never-blocking adapter from finished spans to ``stats.Aggregator``.

Example::

    from opentelemetry.sdk.trace import TracerProvider
    from otel_chatbot.stats import StatsSpanProcessor

    stats = StatsSpanProcessor(service_name="support-bot")
    provider = TracerProvider()
    provider.add_span_processor(stats)
    ...
    print(stats.snapshot().stage("generation"))
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from otel_chatbot import semconv
from otel_chatbot._internal_errors import drain_each, log_internal_error
from otel_chatbot._sdk import ended_span_fields, public_span_fields
from otel_chatbot.stats._aggregator import Aggregator
from otel_chatbot.stats._history import History
from otel_chatbot.stats._snapshot import StatsSnapshot
from otel_chatbot.stats._traces import TraceStore

__all__ = ["StatsSpanProcessor"]

# Enum members hash in Python (enum.__hash__); their id() hashes in C. The members are singletons.
_KIND = {id(kind): f"SPAN_KIND_{kind.name}" for kind in SpanKind}
_STATUS = {id(code): f"STATUS_CODE_{code.name}" for code in StatusCode}

Item = tuple[int, bool, str, str, str, int, int, Mapping[str, Any], Sequence[Mapping[str, Any]], int, int]
"""Trace id, is root, name, kind, status, start and end ns, attributes, feedback events, span id, parent span id."""
_NO_EVENTS: tuple[Mapping[str, Any], ...] = ()
_NO_ATTRIBUTES: Mapping[str, Any] = {}


def _feedback(events: Sequence[Event]) -> Sequence[Mapping[str, Any]]:
    return [e.attributes or {} for e in events if e.name == semconv.CHATBOT_FEEDBACK_EVENT]


class StatsSpanProcessor(SpanProcessor):
    """Aggregates every finished span into the embedded statistics (``snapshot()``).

    ``on_end`` reads the span and appends it to a buffer; every ``batch_size`` spans, the thread that gets the lock
    aggregates the buffer (a few dict updates per span). It never blocks on I/O, never waits for another thread's
    aggregation, and never raises into user code.

    Args:
        service_name: The service, for the ``service_name`` metric label.
        batch_size: Finished spans buffered before they are aggregated together (``snapshot()`` always drains the
            buffer first, so it never misses a span). Aggregating in batches keeps the aggregator's data hot in the
            CPU caches: it halves the per-span cost measured by ``benchmarks/bench_embedded.py``.
        history_interval_s: Seconds per point of the in-process history (``StatsSnapshot.history``).
        history_points: Points of the history (a ring: 360 x 10 s = the last hour).
        recent_traces: Most recent traces kept whole for ``StatsSnapshot.traces`` (those that ran a stage).
        slowest_traces: Slowest traces kept (by request duration).
        max_spans_per_trace: Spans kept per trace (the rest counted in ``TraceRecord.dropped_spans``).
        max_conversations: Most recent conversations kept for ``StatsSnapshot.conversations``.
        max_turns: Most recent turns kept per conversation.
        max_open_traces: Traces whose root has not ended yet whose spans the trace store holds (the oldest is dropped
            beyond it; its spans still count in the history).
        **options: Bounds passed to ``stats.Aggregator`` (``max_pending_traces``, ``top_n``, ``max_tenants``,
            ``max_series``, ``clock``, also the history's clock).

    Raises:
        ValueError: An option is out of range.
    """

    def __init__(
        self,
        *,
        service_name: str,
        batch_size: int = 256,
        history_interval_s: float = 10.0,
        history_points: int = 360,
        recent_traces: int = 50,
        slowest_traces: int = 20,
        max_spans_per_trace: int = 200,
        max_conversations: int = 100,
        max_turns: int = 200,
        max_open_traces: int = 1000,
        **options: Any,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._aggregator = Aggregator(service_name=service_name, **options)
        self._clock = options.get("clock", time.time)
        self._history = History(interval_s=history_interval_s, points=history_points)
        self._traces = TraceStore(
            history=self._history,
            max_open_traces=max_open_traces,
            recent_traces=recent_traces,
            slowest_traces=slowest_traces,
            max_spans_per_trace=max_spans_per_trace,
            max_conversations=max_conversations,
            max_turns=max_turns,
        )
        aggregate, store = self._aggregator.record_item, self._traces.record_item

        def record(item: Item) -> None:
            aggregate(item)
            store(item)

        self._record = record
        # on_end appends to a deque (atomic, no lock); whoever finds batch_size spans waiting and gets _lock drains
        # it in FIFO order, so spans are aggregated in the order they ended (a root after its stages) and no span is
        # lost: a drainer empties the deque, including what other threads append meanwhile.
        self._buffer: deque[Item] = deque()
        self._lock = threading.Lock()
        self._batch_size = batch_size
        self.service_name = service_name

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start: all statistics come from finished spans."""

    def on_end(self, span: ReadableSpan) -> None:
        """Aggregate one finished span (buffered; aggregated in batches)."""
        # try/except instead of the handle_internal_errors() context manager: same behaviour, and on_end runs for
        # every span, where a generator-based context manager costs about a microsecond.
        try:
            # The SDK hands on_end a plain ReadableSpan, an immutable copy of the ended span: the adapter reads its
            # fields in one C call, about half the cost of the public properties. Any other span type (or one built
            # by hand) takes the public properties; both give the same values.
            if type(span) is ReadableSpan:
                try:
                    context, parent, name, kind, status, start, end, attributes, events = ended_span_fields(span)
                except AttributeError:
                    context, parent, name, kind, status, start, end, attributes, events = public_span_fields(span)
            else:
                context, parent, name, kind, status, start, end, attributes, events = public_span_fields(span)
            if context is None or start is None or end is None:
                return
            item: Item = (
                context.trace_id,
                parent is None or parent.is_remote,
                name,
                _KIND[id(kind)],
                _STATUS[id(status.status_code)],
                start,
                end,
                attributes or _NO_ATTRIBUTES,
                _feedback(events) if events else _NO_EVENTS,
                context.span_id,
                0 if parent is None else parent.span_id,
            )
            buffer = self._buffer
            buffer.append(item)
            if len(buffer) >= self._batch_size and self._lock.acquire(blocking=False):
                try:
                    self._drain()
                finally:
                    self._lock.release()
        except Exception:
            log_internal_error()

    def _drain(self) -> None:
        # Called with self._lock held.
        drain_each(self._buffer.popleft, self._record)

    def snapshot(self) -> StatsSnapshot:
        """An immutable snapshot of every span that has ended so far."""
        with self._lock:
            self._drain()
            return dataclasses.replace(
                self._aggregator.snapshot(),
                history=self._history.points(self._clock()),
                traces=self._traces.traces(),
                conversations=self._traces.conversations(),
            )

    def shutdown(self) -> None:
        """Nothing to release: the statistics live in memory."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Aggregate the buffered spans now (in memory: it always succeeds at once)."""
        with self._lock:
            self._drain()
        return True
