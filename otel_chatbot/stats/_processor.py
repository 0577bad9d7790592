"""``StatsSpanProcessor``: a thin, thread-safe, never-blocking adapter from finished spans to ``stats.Aggregator``.

Example::

    from opentelemetry.sdk.trace import TracerProvider
    from otel_chatbot.stats._processor import StatsSpanProcessor

    stats = StatsSpanProcessor(service_name="support-bot")
    provider = TracerProvider()
    provider.add_span_processor(stats)
    ...
    print(stats.snapshot().stage("generation"))
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanKind, StatusCode

from otel_chatbot import semconv
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot.stats._aggregator import Aggregator
from otel_chatbot.stats._snapshot import StatsSnapshot

__all__ = ["StatsSpanProcessor"]

# Enum members hash in Python (enum.__hash__); their id() hashes in C. The members are singletons.
_KIND = {id(kind): f"SPAN_KIND_{kind.name}" for kind in SpanKind}
_STATUS = {id(code): f"STATUS_CODE_{code.name}" for code in StatusCode}

Item = tuple[int, bool, str, str, str, int, int, Mapping[str, Any], Sequence[Mapping[str, Any]]]
_NO_EVENTS: tuple[Mapping[str, Any], ...] = ()


def _feedback(events: Sequence[Event]) -> Sequence[Mapping[str, Any]]:
    return [e.attributes or {} for e in events if e.name == semconv.CHATBOT_FEEDBACK_EVENT] if events else _NO_EVENTS


def span_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The attributes of an ended span, without the MappingProxy of ``ReadableSpan.attributes`` (see ``on_end``)."""
    if type(span) is ReadableSpan:
        attrs = span.__dict__.get("_attributes")
        if type(attrs) is BoundedAttributes:
            return attrs._dict
    return span.attributes or {}


def _item(span: ReadableSpan) -> Item | None:
    """The values the aggregator needs, through the public properties (the slow path; see ``on_end``)."""
    context, start, end = span.context, span.start_time, span.end_time
    if context is None or start is None or end is None:
        return None
    parent = span.parent
    return (
        context.trace_id,
        parent is None or parent.is_remote,
        span.name,
        _KIND[id(span.kind)],
        _STATUS[id(span.status.status_code)],
        start,
        end,
        span.attributes or {},
        _feedback(span.events),
    )


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
        **options: Bounds passed to ``stats.Aggregator`` (``max_pending_traces``, ``top_n``, ``max_tenants``,
            ``max_series``, ``clock``).
    """

    def __init__(self, *, service_name: str, batch_size: int = 256, **options: Any) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._aggregator = Aggregator(service_name=service_name, **options)
        self._record = self._aggregator.record_item
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
            # Fast path, about half the cost of the public properties (each one a Python call; .attributes wraps
            # the attributes in a MappingProxy over a pure-Python mapping; .events copies into a tuple): the SDK
            # hands on_end a plain ReadableSpan, an immutable copy of the ended span, whose fields are only read
            # here. Any other span type, or an SDK whose fields differ, takes the public path (_item).
            d = span.__dict__ if type(span) is ReadableSpan else None
            attrs = d.get("_attributes") if d is not None else None
            if d is not None and type(attrs) is BoundedAttributes and "_events" in d:
                context, parent, start, end, events = (
                    d["_context"],
                    d["_parent"],
                    d["_start_time"],
                    d["_end_time"],
                    d["_events"],
                )
                if context is None or start is None or end is None:
                    return
                item: Item = (
                    context.trace_id,
                    parent is None or parent.is_remote,
                    d["_name"],
                    _KIND[id(d["_kind"])],
                    _STATUS[id(d["_status"].status_code)],
                    start,
                    end,
                    attrs._dict,
                    # BoundedList.__len__ is a Python call; its deque answers in C.
                    _feedback(events) if (events._dq if type(events) is BoundedList else events) else _NO_EVENTS,  # type: ignore[attr-defined]
                )
            else:
                slow = _item(span)
                if slow is None:
                    return
                item = slow
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
        record = self._record
        pop = self._buffer.popleft
        while True:
            try:
                item = pop()
            except IndexError:
                return
            try:
                record(item)
            except Exception:  # one bad span must not cost the rest of the batch
                log_internal_error()

    def snapshot(self) -> StatsSnapshot:
        """An immutable snapshot of every span that has ended so far."""
        with self._lock:
            self._drain()
            return self._aggregator.snapshot()

    def shutdown(self) -> None:
        """Nothing to release: the statistics live in memory."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Aggregate the buffered spans now (in memory: it always succeeds at once)."""
        with self._lock:
            self._drain()
        return True
