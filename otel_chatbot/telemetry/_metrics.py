"""The SDK metrics of every GenAI call: a private MeterProvider, its instruments, and their Prometheus series.

``configure()`` builds one ``CallMetrics``; the accounting span processor calls ``record`` when a call's span ends,
for every recorded span (unsampled ones included), so the totals do not depend on trace sampling. The provider is
private (not the global one): other instrumentations' own metrics, often under the conventions' older names, stay
out of our series, so nothing is counted twice.

Readers:

- OTLP (when an endpoint is configured): a ``PeriodicExportingMetricReader`` every ``OTEL_METRIC_EXPORT_INTERVAL``
  ms (default 15 000), cumulative, with ``service.instance.id`` set per process, so several workers are several
  series that Prometheus sums;
- embedded: an in-memory reader that ``Telemetry.report()`` turns into the same Prometheus series as the Collector's
  prometheus exporter (``series``), served by ``/metrics``.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Histogram,
    InMemoryMetricReader,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource

from otel_chatbot import semconv
from otel_chatbot._version import __version__
from otel_chatbot.stats._snapshot import OTHER, CounterSeries, HistogramSeries

__all__ = ["INSTANCE_ID", "CallMetrics", "prometheus_name"]

logger = logging.getLogger(__name__)

INSTANCE_ID = str(uuid.uuid4())
"""``service.instance.id`` of this process (unless ``OTEL_RESOURCE_ATTRIBUTES`` sets one): one series per worker."""

_DEFAULT_INTERVAL_MS = 15_000
_USAGE_KINDS = ("input_tokens", "output_tokens", "cache_read.input_tokens", "cache_write.input_tokens")
_REASONING = "reasoning.output_tokens"

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


def prometheus_name(instrument: str) -> str:
    """The Prometheus name of one of our instruments."""
    return _PROMETHEUS[instrument]


def _count(value: Any) -> int:
    """A token count attribute as a non-negative int (0 when absent or not a count)."""
    if type(value) is int and value > 0:
        return value
    if isinstance(value, float) and value > 0 and value.is_integer():
        return int(value)
    return 0


class CallMetrics:
    """The instruments of one ``configure()`` call and the readers they go to.

    Args:
        service_name: ``service.name`` of the metrics' resource.
        exporter: The OTLP metric exporter, or None (no export).
        embedded: Keep an in-memory reader for ``series`` (the embedded ``/metrics``).
        resource_attributes: Extra resource attributes (``OTEL_RESOURCE_ATTRIBUTES`` is merged by the SDK).
        max_tenants: Tenants kept by name in the cost counter's ``chatbot.tenant.id`` (then ``other``).
    """

    def __init__(
        self,
        service_name: str,
        *,
        exporter: MetricExporter | None,
        embedded: bool,
        resource_attributes: Mapping[str, Any] | None = None,
        max_tenants: int = 100,
    ) -> None:
        readers: list[MetricReader] = []
        self._memory = InMemoryMetricReader() if embedded else None
        if self._memory is not None:
            readers.append(self._memory)
        if exporter is not None:
            interval = None if os.environ.get("OTEL_METRIC_EXPORT_INTERVAL") else _DEFAULT_INTERVAL_MS
            readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=interval))
        resource = Resource.create(
            {SERVICE_INSTANCE_ID: INSTANCE_ID, **(resource_attributes or {}), SERVICE_NAME: service_name}
        )
        if resource.attributes.get(SERVICE_INSTANCE_ID) != INSTANCE_ID:
            logger.debug("otel_chatbot: service.instance.id comes from the environment")
        self.service_name = service_name
        self.provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
        meter = self.provider.get_meter("otel_chatbot", __version__)
        seconds = list(semconv.DURATION_BUCKETS_S)
        tokens = [float(b) for b in semconv.TOKEN_BUCKETS]

        def histogram(name: str, unit: str, description: str, buckets: Sequence[float]) -> Callable[..., None]:
            return meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets)
            ).record

        self._inference_duration = histogram(
            semconv.INSTRUMENT_INFERENCE_DURATION, "s", "Duration of GenAI inference calls.", seconds
        )
        self._stage_duration = histogram(semconv.INSTRUMENT_STAGE_DURATION, "s", "Duration of chatbot stages.", seconds)
        self._ttfc = histogram(semconv.INSTRUMENT_TTFC, "s", "Time to the first generated chunk of a stream.", seconds)
        self._tpoc = histogram(semconv.INSTRUMENT_TPOC, "s", "Mean time per output chunk after the first.", seconds)
        self._ttft = histogram(semconv.INSTRUMENT_TTFT, "s", "Time to the first visible text of a stream.", seconds)
        self._operation_input = histogram(
            semconv.INSTRUMENT_OPERATION_INPUT_TOKENS, "{token}", "Input tokens per GenAI call.", tokens
        )
        self._operation_output = histogram(
            semconv.INSTRUMENT_OPERATION_OUTPUT_TOKENS, "{token}", "Output tokens per GenAI call.", tokens
        )
        self._usage = {
            kind: meter.create_counter(
                semconv.INSTRUMENT_USAGE_PREFIX + kind, unit="{token}", description=f"GenAI usage: {kind}."
            ).add
            for kind in (*_USAGE_KINDS, _REASONING)
        }
        self._cost = meter.create_counter(
            semconv.INSTRUMENT_COST, unit="{USD}", description="USD spent on GenAI calls."
        ).add
        self._max_tenants = max_tenants
        self._tenants: set[str] = set()

    # --- recording -------------------------------------------------------------------------------------------------

    def record(
        self,
        get: Callable[[str], Any],
        duration_s: float,
        *,
        stage: str | None,
        inference: bool,
        counted: bool,
    ) -> None:
        """Record one finished span's measurements.

        Args:
            get: The span's attributes (after enrichment) ``.get``.
            duration_s: The span's duration.
            stage: Its ``chatbot.stage`` (a stage span: the stage duration) or None.
            inference: It is the innermost inference span of its call (duration, time to first chunk...).
            counted: It is the span the call's usage counts on (tokens, cost).
        """
        error = get(semconv.ERROR_TYPE)
        usage_stage = stage if stage is not None else get(semconv.CHATBOT_USAGE_STAGE)
        labels: dict[str, Any] = {}
        for key, value in (
            (semconv.GEN_AI_OPERATION_NAME, get(semconv.GEN_AI_OPERATION_NAME)),
            (semconv.GEN_AI_PROVIDER_NAME, get(semconv.GEN_AI_PROVIDER_NAME)),
            (semconv.GEN_AI_REQUEST_MODEL, get(semconv.GEN_AI_REQUEST_MODEL) or get(semconv.GEN_AI_RESPONSE_MODEL)),
            (semconv.CHATBOT_STAGE, usage_stage),
        ):
            if value is not None:
                labels[key] = str(value)
        if stage is not None:
            self._stage_duration(duration_s, {**labels, semconv.ERROR_TYPE: str(error)} if error else labels)
        if inference:
            self._inference_duration(duration_s, {**labels, semconv.ERROR_TYPE: str(error)} if error else labels)
            self._record_stream(get, duration_s, labels)
        if counted:
            self._record_usage(get, labels)

    def _record_stream(self, get: Callable[[str], Any], duration_s: float, labels: dict[str, Any]) -> None:
        ttfc = get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        if isinstance(ttfc, int | float) and ttfc >= 0:
            self._ttfc(float(ttfc), labels)
            chunks = get(semconv.CHATBOT_RESPONSE_CHUNKS)
            if type(chunks) is int and chunks > 1 and duration_s > ttfc:
                self._tpoc((duration_s - float(ttfc)) / (chunks - 1), labels)
        ttft = get(semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN)
        if isinstance(ttft, int | float) and ttft >= 0:
            self._ttft(float(ttft), labels)

    def _record_usage(self, get: Callable[[str], Any], labels: dict[str, Any]) -> None:
        for kind in _USAGE_KINDS:
            total = _count(get(_TOTAL_ATTRIBUTE[kind]))
            if not total and kind == "cache_write.input_tokens":  # the old name, still written by OpenLIT
                total = _count(get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS))
            if not total:
                continue
            add = self._usage[kind]
            rest = total
            for modality, attribute in _MODALITIES[kind]:
                part = min(_count(get(attribute)), rest)
                if part:
                    add(part, {**labels, semconv.GEN_AI_TOKEN_MODALITY: modality})
                    rest -= part
            if rest:
                add(rest, {**labels, semconv.GEN_AI_TOKEN_MODALITY: "unknown"})
        reasoning = _count(get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS))
        if reasoning:
            self._usage[_REASONING](reasoning, {**labels, semconv.GEN_AI_TOKEN_MODALITY: "text"})
        inp = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        if inp is not None:
            self._operation_input(_count(inp), labels)
        out = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if out is not None:
            self._operation_output(_count(out), labels)
        cost = get(semconv.GEN_AI_USAGE_COST_AMOUNT)
        if isinstance(cost, int | float) and cost > 0:
            tenant = get(semconv.CHATBOT_TENANT_ID)
            if tenant is not None:
                tenant = self._tenant(str(tenant))
                self._cost(float(cost), {**labels, semconv.CHATBOT_TENANT_ID: tenant})
            else:
                self._cost(float(cost), labels)

    def _tenant(self, tenant: str) -> str:
        if tenant in self._tenants:
            return tenant
        if len(self._tenants) < self._max_tenants:
            self._tenants.add(tenant)
            return tenant
        return OTHER

    # --- reading ---------------------------------------------------------------------------------------------------

    def series(self) -> tuple[list[HistogramSeries], list[CounterSeries]]:
        """The embedded reader's current data as Prometheus series (empty without ``embedded``)."""
        histograms: list[HistogramSeries] = []
        counters: list[CounterSeries] = []
        if self._memory is None:
            return histograms, counters
        data = self._memory.get_metrics_data()
        if data is None:
            return histograms, counters
        service = ("service_name", self.service_name)
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    name = _PROMETHEUS.get(metric.name)
                    if name is None:
                        continue
                    points = metric.data
                    if isinstance(points, Histogram):
                        for hp in points.data_points:
                            histograms.append(
                                HistogramSeries(
                                    name,
                                    (service, *_labels(hp.attributes)),
                                    tuple(float(b) for b in hp.explicit_bounds),
                                    tuple(int(c) for c in hp.bucket_counts),
                                    float(hp.sum),
                                    int(hp.count),
                                )
                            )
                    elif isinstance(points, Sum):
                        for sp in points.data_points:
                            counters.append(CounterSeries(name, (service, *_labels(sp.attributes)), float(sp.value)))
        return histograms, counters

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.provider.force_flush(timeout_millis))

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        self.provider.shutdown(timeout_millis)


def _labels(attributes: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """Data-point attributes as Prometheus labels (dots escaped, as the Collector's exporter does), sorted."""
    if not attributes:
        return ()
    return tuple(sorted((key.replace(".", "_"), str(value)) for key, value in attributes.items()))
