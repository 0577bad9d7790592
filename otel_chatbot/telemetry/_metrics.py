"""The metrics of every GenAI call: cheap accumulators on the span path, exported by the OpenTelemetry metrics SDK.

``configure()`` builds one ``CallMetrics``; the accounting span processor calls ``record`` when a call's span ends,
for every recorded span (unsampled ones included), so the totals do not depend on trace sampling. They are not
derived from spans in the Collector.

Why not the SDK's synchronous instruments: one ``Counter.add`` / ``Histogram.record`` costs 17-23 us on this project's
2-core machines (``benchmarks/bench_embedded.py``; a whole decorated span costs ~45 us there), and a chat request
records about ten measurements. ``record`` instead buffers the span and aggregates 256 at a time into plain cumulative
accumulators under one lock (a few microseconds per span), and the OpenTelemetry metrics SDK does the rest: its data
model (``MetricsData``, cumulative ``Sum`` and explicit-bucket ``Histogram`` points), its
``PeriodicExportingMetricReader`` thread and its OTLP metric exporter, every ``OTEL_METRIC_EXPORT_INTERVAL`` ms (default
15 000). The resource has ``service.instance.id`` (a uuid per process), so several workers are several series that
Prometheus sums. Nothing goes to the global MeterProvider: other instrumentations' own metrics, often under the
conventions' older names, stay out of these series, so nothing is counted twice.

The embedded ``/metrics`` renders the same accumulators in-process (``series``), under the names the Collector's
prometheus exporter gives them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_chatbot import _losses, _values, semconv
from otel_chatbot._internal_errors import drain_each
from otel_chatbot._sdk import MergingMetricReader
from otel_chatbot._version import __version__
from otel_chatbot.stats._snapshot import OTHER, CounterSeries, HistogramSeries

__all__ = ["INSTANCE_ID", "CallMetrics", "prometheus_name"]

logger = logging.getLogger(__name__)

INSTANCE_ID = str(uuid.uuid4())
"""``service.instance.id`` of this process (a new one in each forked child; ``configure(resource_attributes=...)``
can set it): one series per worker."""

_LIVE: weakref.WeakSet[CallMetrics] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked worker (gunicorn --preload) is a new instance: a new id, and counts of its own from zero."""
    global INSTANCE_ID
    parent_id, INSTANCE_ID = INSTANCE_ID, str(uuid.uuid4())
    for metrics in list(_LIVE):
        metrics.after_fork(parent_id)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_DEFAULT_INTERVAL_MS = 15_000
_BATCH = 256
"""Spans buffered before ``record`` aggregates them (a read aggregates whatever is buffered first)."""
_USAGE_KINDS = ("input_tokens", "output_tokens", "cache_read.input_tokens", "cache_write.input_tokens")
_REASONING = "reasoning.output_tokens"
_MAX_SERIES = 2000
_OVERFLOW: tuple[tuple[str, str], ...] = (("otel.metric.overflow", "true"),)
_SECONDS = tuple(float(b) for b in semconv.DURATION_BUCKETS_S)
_TOKENS = tuple(float(b) for b in semconv.TOKEN_BUCKETS)

_PROMETHEUS = {
    semconv.INSTRUMENT_INFERENCE_DURATION: semconv.METRIC_INFERENCE_DURATION,
    semconv.INSTRUMENT_USAGE_PREFIX + "input_tokens": semconv.METRIC_INPUT_TOKENS,
    semconv.INSTRUMENT_USAGE_PREFIX + "output_tokens": semconv.METRIC_OUTPUT_TOKENS,
    semconv.INSTRUMENT_USAGE_PREFIX + "cache_read.input_tokens": semconv.METRIC_CACHE_READ_TOKENS,
    semconv.INSTRUMENT_USAGE_PREFIX + "cache_write.input_tokens": semconv.METRIC_CACHE_WRITE_TOKENS,
    semconv.INSTRUMENT_USAGE_PREFIX + _REASONING: semconv.METRIC_REASONING_TOKENS,
    semconv.INSTRUMENT_OPERATION_INPUT_TOKENS: semconv.METRIC_OPERATION_INPUT_TOKENS,
    semconv.INSTRUMENT_OPERATION_OUTPUT_TOKENS: semconv.METRIC_OPERATION_OUTPUT_TOKENS,
    semconv.INSTRUMENT_TTFC: semconv.METRIC_TTFC,
    semconv.INSTRUMENT_TPOC: semconv.METRIC_TPOC,
    semconv.INSTRUMENT_TTFT: semconv.METRIC_TTFT,
    semconv.INSTRUMENT_COST: semconv.METRIC_COST,
    semconv.INSTRUMENT_STAGE_DURATION: semconv.METRIC_STAGE_DURATION,
}
"""Instrument name -> Prometheus name, as the Collector's prometheus exporter translates it (unit and type
suffixes, dots escaped); ``tests/integration/stack`` checks the real Collector agrees."""

# Per-modality span attributes of each usage counter: (modality, attribute).
_MODALITIES: dict[str, tuple[tuple[str, str], ...]] = {
    "input_tokens": (
        ("text", semconv.GEN_AI_USAGE_TEXT_INPUT_TOKENS),
        ("image", semconv.GEN_AI_USAGE_IMAGE_INPUT_TOKENS),
        ("audio", semconv.GEN_AI_USAGE_AUDIO_INPUT_TOKENS),
    ),
    "output_tokens": (
        ("text", semconv.GEN_AI_USAGE_TEXT_OUTPUT_TOKENS),
        ("image", semconv.GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS),
        ("audio", semconv.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS),
    ),
    "cache_read.input_tokens": (
        ("text", semconv.GEN_AI_USAGE_TEXT_CACHE_READ_INPUT_TOKENS),
        ("image", semconv.GEN_AI_USAGE_IMAGE_CACHE_READ_INPUT_TOKENS),
        ("audio", semconv.GEN_AI_USAGE_AUDIO_CACHE_READ_INPUT_TOKENS),
    ),
    "cache_write.input_tokens": (),
}
_TOTAL_ATTRIBUTE = {
    "input_tokens": semconv.GEN_AI_USAGE_INPUT_TOKENS,
    "output_tokens": semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    "cache_read.input_tokens": semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "cache_write.input_tokens": semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
}


_INSTRUMENTS: dict[str, tuple[str, str, tuple[float, ...] | None]] = {
    semconv.INSTRUMENT_INFERENCE_DURATION: ("s", "Duration of GenAI inference calls.", _SECONDS),
    semconv.INSTRUMENT_STAGE_DURATION: ("s", "Duration of chatbot stages.", _SECONDS),
    semconv.INSTRUMENT_TTFC: ("s", "Time to the first generated chunk of a stream.", _SECONDS),
    semconv.INSTRUMENT_TPOC: ("s", "Mean time per output chunk after the first.", _SECONDS),
    semconv.INSTRUMENT_TTFT: ("s", "Time to the first visible text of a stream.", _SECONDS),
    semconv.INSTRUMENT_OPERATION_INPUT_TOKENS: ("{token}", "Input tokens per GenAI call.", _TOKENS),
    semconv.INSTRUMENT_OPERATION_OUTPUT_TOKENS: ("{token}", "Output tokens per GenAI call.", _TOKENS),
    **{
        semconv.INSTRUMENT_USAGE_PREFIX + kind: ("{token}", f"GenAI usage: {kind}.", None)
        for kind in (*_USAGE_KINDS, _REASONING)
    },
    semconv.INSTRUMENT_COST: ("{USD}", "USD spent on GenAI calls.", None),
}
"""Instrument name -> (unit, description, histogram bounds or None for a monotonic counter)."""

Labels = tuple[tuple[str, str], ...]


_CACHE_WRITE = semconv.INSTRUMENT_USAGE_PREFIX + "cache_write.input_tokens"
_REASONING_NAME = semconv.INSTRUMENT_USAGE_PREFIX + _REASONING
_MODALITY_ATTRIBUTES = frozenset(attribute for pairs in _MODALITIES.values() for _, attribute in pairs)
_STAGE_DURATION = semconv.INSTRUMENT_STAGE_DURATION
_INFERENCE_DURATION = semconv.INSTRUMENT_INFERENCE_DURATION
_TTFC = semconv.INSTRUMENT_TTFC
_TPOC = semconv.INSTRUMENT_TPOC
_TTFT = semconv.INSTRUMENT_TTFT
_OPERATION_INPUT = semconv.INSTRUMENT_OPERATION_INPUT_TOKENS
_OPERATION_OUTPUT = semconv.INSTRUMENT_OPERATION_OUTPUT_TOKENS
_COST = semconv.INSTRUMENT_COST
_USAGE_TABLE = tuple(
    (semconv.INSTRUMENT_USAGE_PREFIX + kind, _TOTAL_ATTRIBUTE[kind], _MODALITIES[kind]) for kind in _USAGE_KINDS
)
"""(counter, total attribute, (modality, attribute)...) per usage counter."""


def prometheus_name(instrument: str) -> str:
    """The Prometheus name of one of our instruments."""
    return _PROMETHEUS[instrument]


def _count(value: Any) -> int:
    """A token count attribute as a non-negative int (0 when absent, not a count, or beyond int64: a counter that
    cannot be exported would poison every later export of the process, its counts being cumulative)."""
    if type(value) is int and 0 < value <= _values.INT64_MAX:
        return value
    if isinstance(value, float) and 0 < value <= _values.INT64_MAX and value.is_integer():
        return int(value)
    return 0


def _seconds(value: Any) -> float | None:
    """A time attribute as a finite non-negative float, or None (NaN, infinity, a negative or absurd number)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e12:
        return float(value)
    return None


def _label(value: Any) -> str:
    """A label value: valid UTF-8 (a surrogate would break every later export and ``/metrics``), bounded."""
    return _values.clean_text(str(value), _values.max_attribute_length())


class _Hist:
    """One cumulative explicit-bucket histogram series."""

    __slots__ = ("bounds", "count", "counts", "max", "min", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0
        self.min = float("inf")
        self.max = float("-inf")

    def add(self, value: float) -> None:
        """One observation (the caller holds the metrics' lock)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value


class _Sum:
    """One cumulative counter series."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0


class _Bundle:
    """The series one label set has met, by instrument (and modality, tenant): a span's label set is looked up once,
    then each measurement is a lookup by a short key, not by the whole label tuple."""

    __slots__ = ("hists", "labels", "sums", "usage")

    def __init__(self, labels: Labels, usage: _Bundle | None) -> None:
        self.labels = labels
        self.hists: dict[str, _Hist] = {}
        self.sums: dict[tuple[str, str | None, str | None], _Sum] = {}
        self.usage = self if usage is None else usage  # where usage and cost go: the same labels without error.type


class CallMetrics:
    """The cumulative metrics of one ``configure()`` call and, with an exporter, their OTLP export.

    Args:
        service_name: ``service.name`` of the metrics' resource.
        exporter: The OTLP metric exporter, or None (no export; ``series`` still reads them).
        resource_attributes: Extra resource attributes (``OTEL_RESOURCE_ATTRIBUTES`` is merged by the SDK).
        max_tenants: Tenants kept by name in the cost counter's ``chatbot.tenant.id`` (then ``other``).
    """

    def __init__(
        self,
        service_name: str,
        *,
        exporter: MetricExporter | None,
        resource_attributes: Mapping[str, Any] | None = None,
        max_tenants: int = 100,
    ) -> None:
        self.service_name = service_name
        self.resource = Resource.create(
            {SERVICE_INSTANCE_ID: INSTANCE_ID, **(resource_attributes or {}), SERVICE_NAME: service_name}
        )
        _LIVE.add(self)
        self._scope = InstrumentationScope("otel_chatbot", __version__)
        self._start_ns = time.time_ns()
        self._lock = threading.Lock()
        # Spans waiting to be aggregated: appended without the lock (a deque's append is atomic); whoever finds a
        # batch waiting and gets the lock drains it, including what other threads append meanwhile.
        self._pending: deque[tuple[Any, ...]] = deque()
        self._hists: dict[tuple[str, Labels], _Hist] = {}
        self._sums: dict[tuple[str, Labels], _Sum] = {}
        self._bundles: dict[tuple[Any, ...], _Bundle] = {}
        self._max_tenants = max_tenants
        self._tenants: set[str] = set()
        self._provider: MeterProvider | None = None
        self._exporter = exporter
        if exporter is not None:
            interval = None if os.environ.get("OTEL_METRIC_EXPORT_INTERVAL") else _DEFAULT_INTERVAL_MS
            # A private MeterProvider (never the global one) whose reader exports these series with its own
            # instrument: the number of series kept, to watch cardinality (also makes every collection non-empty).
            self._provider = MeterProvider(
                resource=self.resource,
                metric_readers=[MergingMetricReader(exporter, interval, self.merged)],
                shutdown_on_exit=False,
            )
            self._provider.get_meter("otel_chatbot", __version__).create_observable_gauge(
                semconv.INSTRUMENT_SERIES,
                callbacks=[self._series_count],
                unit="{series}",
                description="Metric series otel_chatbot keeps in this process.",
            )

    # --- recording -------------------------------------------------------------------------------------------------

    def record(
        self,
        attributes: Mapping[str, Any],
        duration_s: float,
        *,
        stage: str | None,
        inference: bool,
        counted: bool,
        stream: bool = False,
        foreign: bool = False,
    ) -> None:
        """Record one finished span's measurements (buffered: aggregated ``batch`` spans at a time, and before any
        read, so a read never misses one).

        Aggregating in batches keeps this code and its series in the CPU's caches: recorded one by one, between an
        SDK span's start and end, each measurement costs two to three times as much.

        Args:
            attributes: The span's attributes (after enrichment; an ended span's, so they no longer change).
            duration_s: The span's duration.
            stage: Its ``chatbot.stage`` (a stage span: the stage duration) or None.
            inference: It is the innermost inference span of its call (the inference duration).
            stream: Its stream timings are the call's (time to first chunk, per output chunk, first token).
            foreign: Another instrumentation's span: its first chunk stands for the first token when it says no more.
            counted: It is the span the call's usage counts on (tokens, cost).
        """
        pending = self._pending
        pending.append((attributes, duration_s, stage, inference, counted, stream, foreign))
        if len(pending) >= _BATCH and self._lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._lock.release()

    def _drain(self) -> None:
        """Aggregate every buffered span, in the order they ended (called with the lock held)."""
        drain_each(self._pending.popleft, self._record)

    def _record(self, item: tuple[Any, ...]) -> None:
        """One buffered span: ``record``'s arguments, in its order."""
        attributes, duration_s, stage, inference, counted, stream, foreign = item
        get = attributes.get
        key = (
            get(semconv.GEN_AI_OPERATION_NAME),
            get(semconv.GEN_AI_PROVIDER_NAME),
            get(semconv.GEN_AI_REQUEST_MODEL) or get(semconv.GEN_AI_RESPONSE_MODEL),
            stage if stage is not None else get(semconv.CHATBOT_USAGE_STAGE),
            get(semconv.ERROR_TYPE),
        )
        bundle = self._bundles.get(key)
        if bundle is None:
            bundle = self._new_bundle(key)
        hists = bundle.hists
        if stage is not None:
            (hists.get(_STAGE_DURATION) or self._hist(bundle, _STAGE_DURATION)).add(duration_s)
        if inference:
            (hists.get(_INFERENCE_DURATION) or self._hist(bundle, _INFERENCE_DURATION)).add(duration_s)
        if stream:
            self._record_stream(get, duration_s, bundle, foreign)
        if counted:
            self._record_usage(attributes, bundle.usage)

    def _new_bundle(self, key: tuple[Any, ...]) -> _Bundle:
        """The series of one label set (called with the lock held); kept for the next span with the same labels."""
        names = (
            semconv.GEN_AI_OPERATION_NAME,
            semconv.GEN_AI_PROVIDER_NAME,
            semconv.GEN_AI_REQUEST_MODEL,
            semconv.CHATBOT_STAGE,
            semconv.ERROR_TYPE,
        )
        labels = tuple(
            sorted((name, _label(value)) for name, value in zip(names, key, strict=True) if value is not None)
        )
        usage = None
        if key[4] is not None:  # usage and cost of a failed call are counted without error.type
            usage = self._bundles.get(key[:4] + (None,)) or self._new_bundle(key[:4] + (None,))
        bundle = _Bundle(labels, usage)
        if len(self._bundles) < _MAX_SERIES:
            self._bundles[key] = bundle
        return bundle

    def _hist(self, bundle: _Bundle, name: str) -> _Hist:
        """The histogram series ``name`` of ``bundle``'s labels (created, or the overflow series past the limit)."""
        labels = bundle.labels
        series = self._hists.get((name, labels))
        if series is None:
            bounds = _INSTRUMENTS[name][2]
            assert bounds is not None
            if len(self._hists) >= _MAX_SERIES:
                labels = _OVERFLOW
                series = self._hists.get((name, labels))
            if series is None:
                series = self._hists[(name, labels)] = _Hist(bounds)
        bundle.hists[name] = series
        return series

    def _sum(self, bundle: _Bundle, name: str, modality: str | None = None, tenant: str | None = None) -> _Sum:
        """The counter series ``name`` of ``bundle``'s labels with a modality or a tenant (the lock held)."""
        key = (name, modality, tenant)
        series = bundle.sums.get(key)
        if series is not None:
            return series
        labels = bundle.labels
        if modality is not None:
            labels = _with(labels, semconv.GEN_AI_TOKEN_MODALITY, modality)
        if tenant is not None:
            labels = _with(labels, semconv.CHATBOT_TENANT_ID, tenant)
        sums = self._sums
        series = sums.get((name, labels))
        if series is None:
            if len(sums) >= _MAX_SERIES:
                labels = _OVERFLOW
                series = sums.get((name, labels))
            if series is None:
                series = sums[(name, labels)] = _Sum()
        if len(bundle.sums) < _MAX_SERIES:
            bundle.sums[key] = series
        return series

    def _record_stream(self, get: Callable[[str], Any], duration_s: float, bundle: _Bundle, foreign: bool) -> None:
        ttfc = _seconds(get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
        hists = bundle.hists
        if ttfc is not None:
            (hists.get(_TTFC) or self._hist(bundle, _TTFC)).add(ttfc)
            chunks = get(semconv.CHATBOT_RESPONSE_CHUNKS)
            if type(chunks) is int and chunks > 1 and duration_s > ttfc:
                (hists.get(_TPOC) or self._hist(bundle, _TPOC)).add((duration_s - float(ttfc)) / (chunks - 1))
        raw = get(semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN)
        # another instrumentation's span: the first chunk is all it says (as the embedded report)
        ttft = ttfc if raw is None and foreign else _seconds(raw)
        if ttft is not None:
            (hists.get(_TTFT) or self._hist(bundle, _TTFT)).add(ttft)

    def _record_usage(self, attributes: Mapping[str, Any], bundle: _Bundle) -> None:
        get = attributes.get
        sums = bundle.sums
        by_modality = not _MODALITY_ATTRIBUTES.isdisjoint(attributes)  # most spans have none: skip nine lookups
        for name, total_attribute, modalities in _USAGE_TABLE:
            total = get(total_attribute)
            if total is None:
                if name != _CACHE_WRITE:
                    continue
                total = get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)  # the old name, still written by OpenLIT
            if type(total) is not int or total > _values.INT64_MAX:
                total = _count(total)
            if total <= 0:
                continue
            rest = total
            if by_modality:
                for modality, attribute in modalities:
                    part = get(attribute)
                    if part is not None:
                        part = min(_count(part), rest)
                        if part:
                            (sums.get((name, modality, None)) or self._sum(bundle, name, modality)).value += part
                            rest -= part
            if rest:
                (sums.get((name, "unknown", None)) or self._sum(bundle, name, "unknown")).value += rest
        reasoning = get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
        if reasoning is not None and (reasoning := _count(reasoning)):
            (sums.get((_REASONING_NAME, "text", None)) or self._sum(bundle, _REASONING_NAME, "text")).value += reasoning
        hists = bundle.hists
        inp = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        if inp is not None:
            (hists.get(_OPERATION_INPUT) or self._hist(bundle, _OPERATION_INPUT)).add(_count(inp))
        out = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if out is not None:
            (hists.get(_OPERATION_OUTPUT) or self._hist(bundle, _OPERATION_OUTPUT)).add(_count(out))
        cost = get(semconv.GEN_AI_USAGE_COST_AMOUNT)
        if isinstance(cost, int | float) and 0 < cost < 1e12:  # finite: a NaN or inf would stay in the sum for good
            tenant = get(semconv.CHATBOT_TENANT_ID)
            tenant_name = None if tenant is None else self._tenant(_label(tenant))
            (sums.get((_COST, None, tenant_name)) or self._sum(bundle, _COST, None, tenant_name)).value += float(cost)

    def _tenant(self, tenant: str) -> str:
        if tenant in self._tenants:
            return tenant
        if len(self._tenants) < self._max_tenants:
            self._tenants.add(tenant)
            return tenant
        return OTHER

    # --- reading ---------------------------------------------------------------------------------------------------

    def _copy(self) -> tuple[list[tuple[str, Labels, _Hist]], list[tuple[str, Labels, float]]]:
        with self._lock:
            self._drain()
            hists = []
            for (name, labels), h in self._hists.items():
                copy = _Hist(h.bounds)
                copy.counts, copy.sum, copy.count, copy.min, copy.max = list(h.counts), h.sum, h.count, h.min, h.max
                hists.append((name, labels, copy))
            sums = [(name, labels, series.value) for (name, labels), series in self._sums.items()]
        return hists, sums

    def series(self) -> tuple[list[HistogramSeries], list[CounterSeries]]:
        """Every series as Prometheus series, with the Collector's names and label names (for ``/metrics``)."""
        hists, sums = self._copy()
        service = ("service_name", self.service_name)
        histograms = [
            HistogramSeries(
                _PROMETHEUS[name],
                (service, *_prometheus_labels(labels)),
                _INSTRUMENTS[name][2] or (),
                tuple(h.counts),
                h.sum,
                h.count,
            )
            for name, labels, h in sorted(hists, key=lambda item: (item[0], item[1]))
        ]
        counters = [
            CounterSeries(_PROMETHEUS[name], (service, *_prometheus_labels(labels)), value)
            for name, labels, value in sorted(sums, key=lambda item: (item[0], item[1]))
        ]
        _losses.flush_log()
        counters.extend(
            CounterSeries(_losses.PROMETHEUS_NAME, (service, ("reason", reason), ("signal", signal)), value)
            for (signal, reason), value in sorted(_losses.totals().items())
        )
        return histograms, counters

    def scope_metrics(self) -> ScopeMetrics:
        """Every series in the OpenTelemetry SDK's data model (cumulative points), for its exporters."""
        hists, sums = self._copy()
        now = time.time_ns()
        by_name: dict[str, list[Any]] = {}
        for name, labels, h in hists:
            by_name.setdefault(name, []).append(
                HistogramDataPoint(
                    attributes=dict(labels),
                    start_time_unix_nano=self._start_ns,
                    time_unix_nano=now,
                    count=h.count,
                    sum=h.sum,
                    bucket_counts=list(h.counts),
                    explicit_bounds=list(_INSTRUMENTS[name][2] or ()),
                    min=h.min,
                    max=h.max,
                )
            )
        for name, labels, value in sums:
            by_name.setdefault(name, []).append(
                NumberDataPoint(
                    attributes=dict(labels), start_time_unix_nano=self._start_ns, time_unix_nano=now, value=value
                )
            )
        metrics = []
        for name, points in by_name.items():
            unit, description, bounds = _INSTRUMENTS[name]
            data: Histogram | Sum
            if bounds is not None:
                data = Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE)
            else:
                data = Sum(
                    data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True
                )
            metrics.append(Metric(name=name, description=description, unit=unit, data=data))
        if dropped := _dropped_metric(now):
            metrics.append(dropped)
        return ScopeMetrics(scope=self._scope, metrics=metrics, schema_url="")

    def merged(self, collected: MetricsData) -> MetricsData:
        """What the SDK's MeterProvider collected (its own instrument) plus every series here, under our resource
        (its ``service.instance.id`` is renewed in a forked child, the provider's is not)."""
        scopes = [scope for rm in collected.resource_metrics for scope in rm.scope_metrics]
        resource = ResourceMetrics(resource=self.resource, scope_metrics=[*scopes, self.scope_metrics()], schema_url="")
        return MetricsData(resource_metrics=[resource])

    def after_fork(self, parent_id: str) -> None:
        """In a forked child: the parent's counts are the parent's; a new instance id unless the user set one."""
        self._lock = threading.Lock()
        self._pending.clear()
        self._hists.clear()
        self._sums.clear()
        self._bundles.clear()
        self._start_ns = time.time_ns()
        if self.resource.attributes.get(SERVICE_INSTANCE_ID) == parent_id:
            self.resource = self.resource.merge(Resource({SERVICE_INSTANCE_ID: INSTANCE_ID}))

    def _series_count(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            self._drain()
            count = len(self._hists) + len(self._sums)
        yield Observation(count)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export now (with an exporter)."""
        return self._provider is None or bool(self._provider.force_flush(timeout_millis))

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Export one last time and stop the export thread, within ``timeout_millis``.

        The reader's last export may wait for the endpoint; shutting the exporter down when the time is up ends
        that wait. With the export buffer on, the last undelivered request stays on disk for the next start; with it
        off, what the SDK's exporter could not send is counted as dropped (``buffer_off``).
        """
        if self._provider is None or self._exporter is None:
            return
        timer = threading.Timer(timeout_millis / 1000, self._exporter.shutdown)
        timer.daemon = True
        timer.start()
        try:
            self._provider.shutdown(timeout_millis)
        finally:
            timer.cancel()


def _dropped_metric(now: int) -> Metric | None:
    """``chatbot.telemetry.dropped`` (the process-global loss counts of ``_losses``), None while nothing was lost."""
    _losses.flush_log()
    totals = _losses.totals()
    if not totals:
        return None
    start = _losses.start_ns()
    points = [
        NumberDataPoint(
            attributes={"signal": signal, "reason": reason}, start_time_unix_nano=start, time_unix_nano=now, value=n
        )
        for (signal, reason), n in sorted(totals.items())
    ]
    data = Sum(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True)
    return Metric(name=_losses.INSTRUMENT, description=_losses.DESCRIPTION, unit=_losses.UNIT, data=data)


def _with(labels: Labels, key: str, value: str) -> Labels:
    return tuple(sorted((*labels, (key, value))))


def _prometheus_labels(labels: Labels) -> Labels:
    """Data-point attributes as Prometheus labels (dots escaped, as the Collector's exporter does)."""
    return tuple((key.replace(".", "_"), value) for key, value in labels)
