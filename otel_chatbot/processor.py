"""``StatsSpanProcessor``: a thin, thread-safe, never-blocking adapter from finished spans to ``stats.Aggregator``.

Example::

    from opentelemetry.sdk.trace import TracerProvider
    from otel_chatbot.processor import StatsSpanProcessor

    stats = StatsSpanProcessor(service_name="support-bot")
    provider = TracerProvider()
    provider.add_span_processor(stats)
    ...
    print(stats.snapshot().stage("generation"))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from otel_chatbot import semconv
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot.snapshot import StatsSnapshot
from otel_chatbot.stats import Aggregator

__all__ = ["StatsSpanProcessor"]

_KIND = {kind: f"SPAN_KIND_{kind.name}" for kind in SpanKind}
_STATUS = {code: f"STATUS_CODE_{code.name}" for code in StatusCode}

SpanListener = Callable[[ReadableSpan], None]
"""Called after a span is aggregated (the usage ledger and budgets hook in here)."""


def _attributes(span: ReadableSpan) -> Mapping[str, Any]:
    # ReadableSpan.attributes wraps BoundedAttributes (a pure-Python MutableMapping) in a MappingProxy, so every
    # .get() runs three Python frames. The SDK keeps the plain dict in BoundedAttributes._dict; read it when it is
    # there (a read-only use; the span has ended and is immutable) and fall back to the public property otherwise.
    raw = getattr(getattr(span, "_attributes", None), "_dict", None)
    if isinstance(raw, dict):
        return raw
    return span.attributes or {}


class StatsSpanProcessor(SpanProcessor):
    """Aggregates every finished span into the embedded statistics (``snapshot()``).

    ``on_end`` does a few dict updates under one lock: it never blocks on I/O and never raises into user code.

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
        self._record = self._aggregator.record
        # Two locks: _buffer_lock guards the list on_end appends to; _lock serialises the aggregator. Batches are
        # handed over while both are held, so they are aggregated in the order spans ended (a root after its stages).
        self._buffer_lock = threading.Lock()
        self._lock = threading.Lock()
        self._buffer: list[tuple[Any, ...]] = []
        self._batch_size = batch_size
        self._listeners: list[SpanListener] = []
        self.service_name = service_name

    def add_listener(self, listener: SpanListener) -> None:
        """Call ``listener(span)`` after each span is aggregated (outside the lock; errors are logged, not raised)."""
        self._listeners.append(listener)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start: all statistics come from finished spans."""

    def on_end(self, span: ReadableSpan) -> None:
        """Aggregate one finished span."""
        # try/except instead of the handle_internal_errors() context manager: same behaviour, and on_end runs for
        # every span, where a generator-based context manager costs about a microsecond.
        try:
            context = span.context
            parent = span.parent
            start = span.start_time
            end = span.end_time
            if context is None or start is None or end is None:
                return
            # ReadableSpan.events copies the event list into a tuple; most spans have none, so look first.
            events = getattr(span, "_events", None)
            if events is None or len(events):
                feedback = [e.attributes or {} for e in span.events if e.name == semconv.CHATBOT_FEEDBACK_EVENT]
            else:
                feedback = []
            item = (
                context.trace_id,
                parent is None or parent.is_remote,
                span.name,
                _KIND[span.kind],
                _STATUS[span.status.status_code],
                start,
                end,
                _attributes(span),
                feedback,
            )
            with self._buffer_lock:
                self._buffer.append(item)
                if len(self._buffer) < self._batch_size:
                    batch = None
                else:
                    batch, self._buffer = self._buffer, []
                    self._lock.acquire()
            if batch is not None:
                self._aggregate(batch)
            for listener in self._listeners:
                listener(span)
        except Exception:
            log_internal_error()

    def _aggregate(self, batch: list[tuple[Any, ...]]) -> None:
        # Called with self._lock held (acquired under the buffer lock, to keep batches in order); releases it.
        try:
            record = self._record
            for item in batch:
                try:
                    record(*item)
                except Exception:  # one bad span must not cost the rest of the batch
                    log_internal_error()
        finally:
            self._lock.release()

    def snapshot(self) -> StatsSnapshot:
        """An immutable snapshot of every span that has ended so far."""
        self.force_flush()
        with self._lock:
            return self._aggregator.snapshot()

    def shutdown(self) -> None:
        """Nothing to release: the statistics live in memory."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Aggregate the buffered spans now (in memory: it always succeeds at once)."""
        with self._buffer_lock:
            batch, self._buffer = self._buffer, []
            self._lock.acquire()
        self._aggregate(batch)
        return True
