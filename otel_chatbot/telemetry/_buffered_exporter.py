"""OTLP export that loses nothing across outages: exporters that send once and keep what failed on disk.

``configure()`` puts :class:`BufferedSpanExporter` behind the SDK's ``BatchSpanProcessor`` and
:class:`BufferedMetricExporter` behind the metrics reader whenever OTLP export is on; both share one :class:`Spool`.

Each batch is made exportable (``_sanitize``), encoded to an OTLP request and sent once (the export timeout, no
retry loop: the BatchSpanProcessor's worker is never held for long). A request the endpoint does not take goes to
the disk buffer (``_buffer.DiskBuffer``), and so does every later trace request while the buffer holds any (order is
kept); the thread ``otel-chatbot-export-buffer`` sends the buffer oldest-first once the endpoint answers again,
backing off from 0.5 s to 5 s between attempts. A request the endpoint refuses for good (HTTP 400/413, gRPC
``INVALID_ARGUMENT``, too large) is split in two, recursively down to single spans; what is still refused is counted
(``too_large``, ``invalid_value``), never kept forever. Over gRPC, a batch whose request is over the receiver's
default 4 MiB limit is cut into requests under it before it is sent.

Metrics are cumulative: replaying an old request after a newer one would look like a counter reset. So only the
newest undelivered metrics request of a process is kept (each failed export replaces it): after an outage or a
restart, the last totals of every process arrive, the points in between do not (Prometheus sees a gap, not a
wrong value).

With the buffer off (``OTEL_CHATBOT_EXPORT_BUFFER=off``), the SDK's exporters are used as before and what they fail
to send is counted (``buffer_off``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_chatbot import _losses, _sanitize, env
from otel_chatbot._internal_errors import handle_internal_errors, log_internal_error
from otel_chatbot._sdk import count_queue_drops, exporter_preferences
from otel_chatbot.telemetry._buffer import DiskBuffer, Entry
from otel_chatbot.telemetry._senders import Outcome, Sender

__all__ = [
    "BufferedMetricExporter",
    "BufferedSpanExporter",
    "CountingBatchSpanProcessor",
    "CountingMetricExporter",
    "CountingSpanExporter",
    "Spool",
]

logger = logging.getLogger("otel_chatbot")

THREAD_NAME = "otel-chatbot-export-buffer"
_BACKOFF_S = (0.5, 5.0)
_ADOPT_EVERY_S = 30.0
_LIVE: weakref.WeakSet[Spool] = weakref.WeakSet()


def split_request(data: bytes, signal: str) -> list[tuple[bytes, int]]:
    """``data`` (a trace request) as two requests of half its spans each, with their span counts; [] when it cannot
    be split (one span, not a trace request, not parseable)."""
    if signal != "spans":
        return []
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        request = ExportTraceServiceRequest.FromString(data)
    except Exception:
        return []
    flat = [
        (ri, si, span)
        for ri, rs in enumerate(request.resource_spans)
        for si, ss in enumerate(rs.scope_spans)
        for span in ss.spans
    ]
    if len(flat) < 2:
        return []
    halves = []
    for part in (flat[: len(flat) // 2], flat[len(flat) // 2 :]):
        out = ExportTraceServiceRequest()
        resources: dict[int, Any] = {}
        scopes: dict[tuple[int, int], Any] = {}
        for ri, si, span in part:
            if ri not in resources:
                source = request.resource_spans[ri]
                resources[ri] = out.resource_spans.add(schema_url=source.schema_url)
                resources[ri].resource.CopyFrom(source.resource)
            if (ri, si) not in scopes:
                source_scope = request.resource_spans[ri].scope_spans[si]
                scopes[(ri, si)] = resources[ri].scope_spans.add(schema_url=source_scope.schema_url)
                scopes[(ri, si)].scope.CopyFrom(source_scope.scope)
            scopes[(ri, si)].spans.append(span)
        halves.append((out.SerializeToString(), len(part)))
    return halves


def fit_request(data: bytes, spans: int, limit: int | None) -> list[tuple[bytes, int]]:
    """``data`` (a trace request of ``spans`` spans) cut in halves, recursively, until each part is at most
    ``limit`` bytes or a single span (no limit: ``data`` as is)."""
    if limit is None or len(data) <= limit or spans < 2:
        return [(data, spans)]
    halves = split_request(data, "spans")
    if not halves:
        return [(data, spans)]
    return [fitted for half, count in halves for fitted in fit_request(half, count, limit)]


def _parses(data: bytes, signal: str) -> bool:
    """Whether ``data`` is a whole OTLP request of ``signal`` (a buffered file is checked before it is sent: a
    receiver may answer a corrupt body with a retryable error, and the file would then be retried forever)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        if signal == "spans":
            return len(ExportTraceServiceRequest.FromString(data).resource_spans) > 0
        return len(ExportMetricsServiceRequest.FromString(data).resource_metrics) > 0
    except Exception:
        return False


class Spool:
    """The senders of one OTLP endpoint, the disk buffer and the thread that drains it.

    Args:
        traces: Sends trace requests.
        metrics: Sends metrics requests.
        buffer: The disk buffer.
        users: How many exporters share this spool (it closes when the last one shuts down).
    """

    def __init__(self, traces: Sender, metrics: Sender, buffer: DiskBuffer, *, users: int = 2) -> None:
        self._senders = {"spans": traces, "metrics": metrics}
        self.buffer = buffer
        self._users = users
        self._wake = threading.Event()  # something was buffered (or shutdown)
        self._stop = threading.Event()  # shutdown: ends a backoff wait (new spans do not: the backoff holds)
        self._closing = False
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._direct = threading.Lock()  # one direct trace send at a time: keeps the order with the buffer's
        self._corrupt_logged = False
        _losses.note("buffer_full", f"export buffer {buffer.root}, {buffer.max_bytes / 2**20:g} MB")
        _LIVE.add(self)
        if hasattr(os, "register_at_fork"):
            reinit = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (method := reinit()) and method())
        if buffer.adopt():
            self._start()

    def _after_fork_in_child(self) -> None:
        """A forked worker (gunicorn --preload) buffers into a subfolder of its own; the parent keeps its files."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._thread_lock = threading.Lock()
        self._direct = threading.Lock()
        if not self._closing:
            self.buffer = self.buffer.forked()

    def adopt_now(self) -> None:
        """Take over what another spool of this process left (a replaced ``configure()``), and send it."""
        if not self._closing and self.buffer.adopt():
            self._start()

    def sender(self, signal: str) -> Sender:
        """The sender of ``spans`` or ``metrics``."""
        return self._senders[signal]

    def max_request_bytes(self, signal: str) -> int | None:
        """The largest request the endpoint is known to take (gRPC: 4 MiB by default), None: no known limit."""
        limit = getattr(self._senders[signal], "max_request_bytes", None)
        return limit if isinstance(limit, int) else None

    # --- the exporters' side ---------------------------------------------------------------------------------------

    def submit_traces(self, data: bytes, spans: int) -> None:
        """Send a trace request now, or buffer it (the endpoint failed, or older requests wait)."""
        with self._direct:
            if self.buffer.has_traces() or self._closing:
                self._buffer_traces(data, spans)
                return
            outcome = self._senders["spans"].send(data)
            if outcome is Outcome.OK:
                return
            if outcome is Outcome.RETRY:
                self._buffer_traces(data, spans)
                return
            self._refused(data, spans, "spans", outcome, on_retry=self._buffer_traces)

    def submit_metrics(self, data: bytes, points: int) -> None:
        """Send the newest metrics request now, or keep it (replacing the previous one) for the thread."""
        if self.buffer.has_own_metrics() or self._closing:
            if self.buffer.put_metrics(data, points):
                self._start()
            return
        outcome = self._senders["metrics"].send(data)
        if outcome is Outcome.OK:
            return
        if outcome is Outcome.RETRY:
            if self.buffer.put_metrics(data, points):
                self._start()
            return
        _losses.record_dropped("metrics", outcome.value, points)  # refused for good: a newer one replaces it

    def _buffer_traces(self, data: bytes, spans: int) -> None:
        if self.buffer.append_traces(data, spans):
            self._start()

    def _refused(
        self, data: bytes, items: int, signal: str, outcome: Outcome, on_retry: Callable[[bytes, int], None] | None
    ) -> None:
        """A request refused for good: split it in two and send each half, recursively down to single spans (a
        request far over the limit, or one bad span among many); count what is still refused."""
        parts = deque([(data, items, outcome, True)])  # (request, items, why refused, sent already?)
        while parts:
            part, count, why, sent = parts.popleft()
            if sent:
                result = why
            else:
                result = self._senders[signal].send(part)
                if result is Outcome.OK:
                    continue
                if result is Outcome.RETRY:
                    if on_retry is not None:
                        on_retry(part, count)
                    else:
                        _losses.record_dropped(signal, why.value, count)
                    continue
            halves = split_request(part, signal)
            if not halves:
                _losses.record_dropped(signal, result.value, count)
                continue
            parts.extendleft(reversed([(half, n, result, False) for half, n in halves]))

    # --- the thread ------------------------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._thread_lock:
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        backoff = _BACKOFF_S[0]
        last_adopt = time.monotonic()
        while True:
            with handle_internal_errors():
                _losses.flush_log()
                entry = self.buffer.oldest()
                if entry is None:
                    if self._closing:
                        return
                    self._wake.wait(_ADOPT_EVERY_S)
                    self._wake.clear()
                    if time.monotonic() - last_adopt >= _ADOPT_EVERY_S and not self._closing:
                        last_adopt = time.monotonic()
                        self.buffer.adopt()
                    continue
                if self._closing and time.monotonic() >= self._deadline:
                    return
                if self._send(entry):
                    backoff = _BACKOFF_S[0]
                    continue
            # a retryable failure, or an exception (logged above): give it time, never spin on a persistent one
            self.buffer.settle()
            if self._closing:
                return  # at shutdown: one pass until the first failure; the rest stays on disk
            self._stop.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_S[1])

    def _send(self, entry: Entry) -> bool:
        """Send one buffered request; False when the endpoint should be given time (a retryable failure)."""
        version = entry.version
        data = self.buffer.read(entry)
        if data is None:
            return True  # unreadable: removed and counted
        if not _parses(data, entry.signal):
            if not self._corrupt_logged:
                self._corrupt_logged = True
                logger.warning("otel_chatbot: export buffer file %s is corrupt; removed and counted", entry.path)
            self.buffer.remove(entry, dropped="invalid_value")
            return True
        outcome = self._senders[entry.signal].send(data)
        if outcome is Outcome.OK:
            self.buffer.remove(entry, version=version)
            return True
        if outcome is Outcome.RETRY:
            self.buffer.settle()
            return False
        self._refused(data, entry.items, entry.signal, outcome, on_retry=self._buffer_traces)
        self.buffer.remove(entry, version=version)  # (a newer metrics request that replaced it stays)
        return True

    # --- shutdown --------------------------------------------------------------------------------------------------

    def release(self, timeout_s: float) -> None:
        """One exporter is done; the last one sends what it can within ``timeout_s`` and leaves the rest on disk."""
        with self._thread_lock:
            self._users -= 1
            if self._users > 0:
                return
            self._closing = True
            self._deadline = time.monotonic() + max(0.0, timeout_s)
            thread = self._thread
        self._wake.set()
        self._stop.set()
        if thread is not None:
            thread.join(max(0.0, timeout_s) + 0.5)
        if thread is None or not thread.is_alive():
            left = len(self.buffer)
            self.buffer.close()
            for sender in self._senders.values():
                sender.close()
            if left:
                logger.info("otel_chatbot: %d export requests kept in %s for the next start", left, self.buffer.folder)
        _losses.flush_log(force=True)  # the last words: what was dropped since the last line, even within the minute


class BufferedSpanExporter(SpanExporter):
    """Spans: made exportable, encoded, sent once or buffered (module docstring). Always reports SUCCESS: what is
    not delivered is on disk or counted."""

    def __init__(self, spool: Spool, timeout_s: float) -> None:
        self._spool = spool
        self._timeout_s = timeout_s
        self._shut = False
        self._shut_lock = threading.Lock()

    @property
    def sender(self) -> Sender:
        """What sends the trace requests (gRPC or HTTP)."""
        return self._spool.sender("spans")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        left = len(spans)  # not yet sent, buffered or counted: dropped if an exception escapes
        try:
            batch = _sanitize.exportable_spans(spans)
            left = len(batch)
            if batch:
                data = encode_spans(batch).SerializeToString()
                for part, count in fit_request(data, len(batch), self._spool.max_request_bytes("spans")):
                    self._spool.submit_traces(part, count)
                    left -= count
        except Exception:
            _losses.record_dropped("spans", "invalid_value", left)
            log_internal_error()
        return SpanExportResult.SUCCESS

    def shutdown(self, timeout_millis: float | None = None) -> None:
        with self._shut_lock:
            if self._shut:
                return
            self._shut = True
        timeout = self._timeout_s if timeout_millis is None else min(self._timeout_s, timeout_millis / 1000)
        self._spool.release(timeout)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class BufferedMetricExporter(MetricExporter):
    """Metrics: made exportable, encoded, sent once, else kept as the process's newest request (module docstring)."""

    def __init__(self, spool: Spool, timeout_s: float) -> None:
        super().__init__()  # cumulative temporality: newest-only buffering needs it
        preference = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "").strip().lower()
        if preference not in ("", "cumulative"):
            logger.warning(
                "otel_chatbot: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=%s is ignored with the export buffer: "
                "metrics are exported cumulative (the buffer keeps the newest request only); set %s=off for the SDK "
                "exporter's temporality",
                preference,
                env.OTEL_CHATBOT_EXPORT_BUFFER,
            )
        self._spool = spool
        self._timeout_s = timeout_s
        self._shut = False
        self._shut_lock = threading.Lock()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

        try:
            data = _sanitize.exportable_metrics(metrics_data)
            self._spool.submit_metrics(encode_metrics(data).SerializeToString(), _points(data))
        except Exception:
            try:
                points = _points(metrics_data)
            except Exception:
                points = 1  # (at least one: never silent)
            _losses.record_dropped("metrics", "invalid_value", points)
            log_internal_error()
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with self._shut_lock:  # CallMetrics' timer and the provider may both call it: release once
            if self._shut:
                return
            self._shut = True
        self._spool.release(min(self._timeout_s, timeout_millis / 1000))


def adopt_now() -> None:
    """After a replaced ``configure()`` shut its exporters down: the live spools take over what they left."""
    for spool in list(_LIVE):
        with handle_internal_errors():
            spool.adopt_now()


def _points(data: MetricsData) -> int:
    return sum(
        len(getattr(metric.data, "data_points", ()))
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )


class CountingSpanExporter(SpanExporter):
    """The buffer off: the SDK's exporter as before, behind ``_sanitize``; what it fails to send is counted
    (``buffer_off``)."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        batch = spans
        with handle_internal_errors():
            batch = _sanitize.exportable_spans(spans)
        result = self._inner.export(batch)
        if result is not SpanExportResult.SUCCESS:
            _losses.record_dropped("spans", "buffer_off", len(batch))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingMetricExporter(MetricExporter):
    """The buffer off, for metrics (same as :class:`CountingSpanExporter`)."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(**exporter_preferences(inner))
        self._inner = inner

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        data = metrics_data
        with handle_internal_errors():
            data = _sanitize.exportable_metrics(metrics_data)
        result = self._inner.export(data, timeout_millis=timeout_millis, **kwargs)
        if result is not MetricExportResult.SUCCESS:
            _losses.record_dropped("metrics", "buffer_off", _points(data))
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's BatchSpanProcessor; the spans its full queue drops are counted (``queue_full``).

    The SDK reports each such drop to its processor metrics; ``_sdk.count_queue_drops`` wraps that object, so the
    span path costs nothing more (the wrapper only runs when a span is dropped).
    """

    def __init__(self, exporter: SpanExporter) -> None:
        super().__init__(exporter)
        if not count_queue_drops(self, lambda count: _losses.record_dropped("spans", "queue_full", count)):
            logger.debug("otel_chatbot: this SDK's BatchSpanProcessor reports no drops: queue_full is not counted")
