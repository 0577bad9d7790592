"""``configure()``: a TracerProvider with a Resource, OTLP export when asked, embedded statistics by default.

Example::

    tel = oc.configure("support-bot")  # embedded statistics; OTLP too if OTEL_EXPORTER_OTLP_ENDPOINT is set
    ...
    tel.shutdown(timeout=5)  # flushes; returns within its timeout even when the endpoint is down

Calling ``configure()`` again replaces what the previous call installed (no double export): the process keeps one
TracerProvider, whose span processors and sampler are swapped. Its Resource cannot change once spans exist, so a
second call with another service name keeps the first one's resource and says so in a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otel_chatbot import _values, env
from otel_chatbot._sdk import FanOutProcessor
from otel_chatbot._state import STATE, ContentSettings, Installed, no_redaction
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend import _pricing as pricing
from otel_chatbot.telemetry import _otlp
from otel_chatbot.telemetry._accounting import AccountingProcessor
from otel_chatbot.telemetry._buffered_exporter import CountingBatchSpanProcessor
from otel_chatbot.telemetry._metrics import INSTANCE_ID, CallMetrics

if TYPE_CHECKING:  # imported lazily at run time: the statistics are only loaded when embedded=True
    from otel_chatbot.stats._processor import StatsSpanProcessor
    from otel_chatbot.stats._snapshot import StatsSnapshot

if TYPE_CHECKING:
    from otel_chatbot.spend._budgets import Budget, BudgetAlert, BudgetGuard

__all__ = ["Telemetry", "configure"]

logger = logging.getLogger(__name__)


class SwitchSampler(Sampler):
    """Delegates to the sampler of the ``configure()`` call in force, recording what it drops.

    A span the sampler drops is recorded but not sampled (``RECORD_ONLY``): the accounting processor, the ledger and
    the embedded statistics see every call, so tokens, cost and budgets are exact under any sampler, while the
    exporters (which skip unsampled spans) send only the sampled traces. Downstream services see the trace as not
    sampled, as the sampler decided.
    """

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self.sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is Decision.DROP:
            # A sampler's result carries the span's attributes (the SDK starts the span with them); a DROP carries
            # none, so the ones the span was started with are passed on.
            kept = {**(attributes or {}), **(result.attributes or {})}
            return SamplingResult(Decision.RECORD_ONLY, kept, result.trace_state)
        return result

    def get_description(self) -> str:
        return self.sampler.get_description()


# Serialises configure() calls and Telemetry.shutdown() against each other (never taken on the span path).
_INSTALL_LOCK = threading.Lock()


class Telemetry:
    """What ``configure()`` returns: the provider, the embedded statistics, report/dump/mount and shutdown."""

    def __init__(
        self,
        service_name: str,
        provider: TracerProvider | None,
        processors: Sequence[SpanProcessor],
        stats: StatsSpanProcessor | None,
        metrics: CallMetrics | None = None,
    ) -> None:
        self.service_name = service_name
        self.tracer_provider = provider
        self._processors = tuple(processors)
        self._stats = stats
        self._metrics = metrics
        self._closed = False

    @property
    def enabled(self) -> bool:
        """False when ``OTEL_SDK_DISABLED=true`` made ``configure()`` install nothing."""
        return self.tracer_provider is not None

    @property
    def stats(self) -> StatsSpanProcessor | None:
        """The embedded statistics span processor (None with ``embedded=False`` or a disabled SDK)."""
        return self._stats

    def report(self) -> StatsSnapshot:
        """An immutable snapshot of the embedded statistics (per stage, per model, cost, recommendations...).

        Raises:
            ConfigurationError: When ``configure(embedded=False)`` installed no statistics.
        """
        if self._stats is None:
            raise ConfigurationError("report() needs the embedded statistics: configure(..., embedded=True).")
        snapshot = self._stats.snapshot()
        if self._metrics is None:
            return snapshot
        histograms, counters = self._metrics.series()  # tokens, cost, TTFC...: the SDK metrics, in-process
        return dataclasses.replace(
            snapshot,
            histograms=snapshot.histograms + tuple(histograms),
            counters=snapshot.counters + tuple(counters),
        )

    def dump(self, path: str) -> None:
        """Write ``report()`` as JSON to ``path``; ``otel-chatbot report PATH`` (and ``--baseline PATH``) read it."""
        self.report().dump(path)

    def mount(self, app: Any, *, path: str = "/metrics") -> None:
        """Serve ``GET /metrics/latency`` (JSON per stage) and ``GET /metrics`` (Prometheus text) on a FastAPI app."""
        from otel_chatbot.stats._http import mount

        mount(app, self.report, path=path)

    def mount_ui(self, app: Any, *, path: str = "/otel-chatbot", dependencies: Sequence[Any] | None = None) -> None:
        """Serve the web view (latency, cost, traces, conversations; docs/ui.md) on a FastAPI app at ``path``.

        Off unless called. Pass the app's own auth as ``dependencies`` so only its users see it::

            tel.mount_ui(app, dependencies=[Depends(require_admin)])

        Args:
            app: A ``fastapi.FastAPI`` (or ``APIRouter``).
            path: Where to mount (default ``/otel-chatbot``; the page is ``{path}/``, its data ``{path}/api/view``).
            dependencies: FastAPI dependencies applied to every route of the view.

        Raises:
            ConfigurationError: When ``configure(embedded=False)`` installed no statistics to show.
        """
        if self._stats is None:
            raise ConfigurationError("mount_ui() needs the embedded statistics: configure(..., embedded=True).")
        from otel_chatbot.ui._mount import mount_ui

        mount_ui(app, self._view_document, path=path, dependencies=dependencies)

    def _view_document(self) -> dict[str, Any]:
        """The web view's data: ``report()``, its recommendations and the budgets' spend per window (docs/ui.md)."""
        from otel_chatbot.ui._view import budget_rows, view_document

        return view_document(
            self.report(), source=f"embedded {self.service_name}", budgets=budget_rows(STATE.budget_guard)
        )

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Export what is buffered; True when everything was flushed within ``timeout`` seconds."""
        return _bounded(lambda: all(p.force_flush(int(timeout * 1000)) for p in self._processors), timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush and stop exporting; returns within ``timeout`` seconds even when the endpoint is unreachable.

        Returns:
            True when everything shut down cleanly within the timeout.
        """
        if self._closed:
            return True
        self._closed = True
        with _INSTALL_LOCK:
            installed = STATE.installed
            if installed is not None and installed.fan_out.processors == self._processors:
                installed.fan_out.replace(())

        return _bounded(lambda: _shutdown_all(self._processors), timeout)


def _bounded(work: Callable[[], bool], timeout: float) -> bool:
    """Run ``work`` in a daemon thread and wait at most ``timeout`` seconds for it (exporters may block)."""
    outcome: list[bool] = []

    def target() -> None:
        try:
            outcome.append(work())
        except Exception:
            logger.exception("otel_chatbot: flushing telemetry failed; your code is unaffected")
            outcome.append(False)

    thread = threading.Thread(target=target, name="otel-chatbot-flush", daemon=True)
    thread.start()
    thread.join(max(0.0, timeout))
    if thread.is_alive():
        logger.warning(
            "otel_chatbot: telemetry flush did not finish within %.1f s; spans not yet handed to the exporter may be "
            "lost (what reached the export buffer stays on disk for the next start)",
            timeout,
        )
        return False
    return bool(outcome and outcome[0])


@dataclass(frozen=True)
class _Settings:
    """What one ``configure()`` call asks for, resolved against the environment and validated (nothing changed)."""

    service_name: str
    content: ContentSettings
    prices: pricing.PricingTable
    otlp: tuple[str, str] | None  # (protocol, URL)
    headers: Mapping[str, str] | None
    export_timeout: float
    embedded: bool
    span_processors: tuple[SpanProcessor, ...]
    sampler: Sampler | None
    resource_attributes: Mapping[str, Any] | None
    ledger: str | None
    ledger_retention: str | None
    budgets: tuple[Budget, ...]
    budget_alerts: Sequence[Callable[[BudgetAlert], None]] | None
    attribute_lengths: tuple[int, int] = (env.DEFAULT_MAX_ATTRIBUTE_LENGTH, env.DEFAULT_MAX_ATTRIBUTE_LENGTH)
    """(general, span attributes) maximum value lengths, in characters."""
    export_buffer: _otlp.BufferSettings | None = None


@dataclass(frozen=True)
class _Pipeline:
    """The span processors one ``configure()`` call built, in the order they run, and what goes with them."""

    processors: tuple[SpanProcessor, ...]
    stats: StatsSpanProcessor | None
    budget_guard: BudgetGuard | None
    metrics: CallMetrics | None


def configure(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    embedded: bool = True,
    capture_content: bool = False,
    prices: Mapping[str, Any] | None = None,
    sampler: Sampler | None = None,
    redact: Callable[[str], str] | None = None,
    max_content_length: int | None = None,
    headers: Mapping[str, str] | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    export_timeout: float = 10.0,
    max_attribute_length: int | None = None,
    ledger: str | None = None,
    ledger_retention: str | None = None,
    budgets: Sequence[Budget] = (),
    budget_alerts: Sequence[Callable[[BudgetAlert], None]] | None = None,
    export_buffer: str | os.PathLike[str] | None = None,
    export_buffer_size_mb: float | None = None,
) -> Telemetry:
    """Set up tracing for a chatbot: provider, exporters, embedded statistics, content capture and prices.

    Example::

        tel = oc.configure("support-bot", endpoint="http://127.0.0.1:4317")
        print(tel.report())

    Honours the standard variables (``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_*``,
    ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ``OTEL_RESOURCE_ATTRIBUTES``) and ours (``OTEL_CHATBOT_*``).

    Args:
        service_name: ``service.name`` (default ``OTEL_SERVICE_NAME``, else ``unknown_service``).
        endpoint: OTLP endpoint; gRPC or HTTP chosen from the URL (port 4318 or a path → HTTP) unless ``protocol``
            or ``OTEL_EXPORTER_OTLP_PROTOCOL`` says. Default: ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``; none → no OTLP.
        protocol: ``grpc`` or ``http/protobuf``: the OTLP protocol, over ``OTEL_EXPORTER_OTLP_PROTOCOL`` and the URL.
        embedded: Install the in-process statistics (``report()``, ``/metrics``). Default True.
        capture_content: Record prompts and responses (also on with
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``). Default off.
        prices: Price overrides, USD per 1M tokens: ``{"my-model": {"input": 1.0, "output": 2.0,
            "cache_read": 0.1}}``; they win over ``OTEL_CHATBOT_PRICES_FILE`` and the bundled genai-prices data.
        sampler: An OpenTelemetry sampler (default: ``OTEL_TRACES_SAMPLER`` or parent-based always-on). What it drops
            is still recorded, so tokens, cost, the ledger, budgets and metrics stay exact; only export is sampled.
        redact: Applied to every captured content string before it is set.
        max_content_length: Maximum characters of one content attribute (default 8192).
        headers: OTLP headers (e.g. an API key for a hosted backend).
        resource_attributes: Extra resource attributes.
        span_processors: Extra span processors (e.g. an in-memory exporter in tests).
        export_timeout: Seconds one OTLP export may take.
        max_attribute_length: Maximum characters of one attribute value (span, event and link attributes: ids,
            exception messages and stack traces included), of a status description and of a span name; longer
            values are cut. Default ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` (``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT``
            for span attributes), else 16384. Applied through the SDK's ``SpanLimits`` when ``configure()``
            creates the TracerProvider, and at export in every case (docs/reliability.md, "Poison values").
        ledger: The usage ledger every priced call is appended to (off the request path): a SQLite file path or a
            ``postgresql://`` URL. Default ``OTEL_CHATBOT_LEDGER``; none → no ledger.
        ledger_retention: Delete ledger rows older than this, e.g. ``"90d"`` (default: keep everything).
        budgets: ``oc.Budget(...)`` spend limits, read from the ledger (in memory when there is no ledger).
        budget_alerts: Soft-limit alert callbacks (default: a log warning), e.g.
            ``otel_chatbot.spend.WebhookAlert(url)``.
        export_buffer: Folder of the disk buffer that keeps OTLP exports the endpoint does not take, sent when it
            answers again or by the next start (docs/reliability.md), or ``"off"``. Default
            ``OTEL_CHATBOT_EXPORT_BUFFER``, else ``$XDG_STATE_HOME/otel-chatbot/export-buffer/<service_name>``.
        export_buffer_size_mb: Its bound per process in MB (default ``OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB``, else
            256); when full, the oldest exports are dropped and counted.

    Returns:
        The :class:`Telemetry` handle.

    Raises:
        ConfigurationError: A malformed price file, a bad endpoint URL or an invalid environment value.
    """
    # Three steps; a mistake raises in one of the first two and changes nothing in the process.
    if env.sdk_disabled(strict=True):
        logger.info("OTEL_SDK_DISABLED=true: otel_chatbot installs no tracing")
        return Telemetry(service_name or "unknown_service", None, (), None)
    settings = _resolve(
        service_name,
        endpoint=endpoint,
        protocol=protocol,
        embedded=embedded,
        capture_content=capture_content,
        prices=prices,
        sampler=sampler,
        redact=redact,
        max_content_length=max_content_length,
        headers=headers,
        resource_attributes=resource_attributes,
        span_processors=span_processors,
        export_timeout=export_timeout,
        max_attribute_length=max_attribute_length,
        ledger=ledger,
        ledger_retention=ledger_retention,
        budgets=budgets,
        budget_alerts=budget_alerts,
        export_buffer=export_buffer,
        export_buffer_size_mb=export_buffer_size_mb,
    )
    pipeline = _build(settings)
    pricing.warm_up()  # the first priced span should not pay for loading the price data
    installed, previous = _install(settings, pipeline)
    if settings.embedded:
        _say_if_one_of_several_workers(settings.otlp is not None)
    if previous:
        # Stop what the previous configure() exported to, without blocking the caller for long.
        _bounded(lambda: _shutdown_all(previous), 2.0)
        if settings.otlp is not None and settings.export_buffer is not None:
            from otel_chatbot.telemetry import _buffered_exporter

            _buffered_exporter.adopt_now()  # what the replaced exporters left in the buffer goes out now
    return Telemetry(settings.service_name, installed.provider, pipeline.processors, pipeline.stats, pipeline.metrics)


def _resolve(
    service_name: str | None,
    *,
    endpoint: str | None,
    protocol: str | None,
    embedded: bool,
    capture_content: bool,
    prices: Mapping[str, Any] | None,
    sampler: Sampler | None,
    redact: Callable[[str], str] | None,
    max_content_length: int | None,
    headers: Mapping[str, str] | None,
    resource_attributes: Mapping[str, Any] | None,
    span_processors: Sequence[SpanProcessor],
    export_timeout: float,
    max_attribute_length: int | None,
    ledger: str | None,
    ledger_retention: str | None,
    budgets: Sequence[Budget],
    budget_alerts: Sequence[Callable[[BudgetAlert], None]] | None,
    export_buffer: str | os.PathLike[str] | None = None,
    export_buffer_size_mb: float | None = None,
) -> _Settings:
    """Step 1: the arguments resolved against the environment and validated; reads files, changes nothing.

    Raises:
        ConfigurationError: An invalid argument or environment value, a malformed price file, a bad endpoint URL.
    """
    content_on = capture_content or env.capture_content(strict=True)
    limit = max_content_length if max_content_length is not None else env.max_content_length(strict=True)
    if limit <= 0:
        raise ConfigurationError(f"max_content_length must be a positive number of characters, not {limit}.")
    legacy = env.semconv_legacy_dup(strict=True)
    if max_attribute_length is not None and (type(max_attribute_length) is not int or max_attribute_length <= 0):
        raise ConfigurationError(
            f"max_attribute_length must be a positive number of characters, not {max_attribute_length!r}."
        )
    lengths = (
        (max_attribute_length, max_attribute_length)
        if max_attribute_length is not None
        else env.attribute_length_limits(strict=True)
    )
    content = ContentSettings(content_on, limit, redact if redact is not None else no_redaction, legacy)
    overrides: dict[str, pricing.ModelPrice] = {}
    if path := env.prices_file():
        overrides.update(pricing.load_overrides_file(path))
    if prices is not None:
        overrides.update(pricing.parse_overrides(prices))
    name = service_name or os.environ.get(env.OTEL_SERVICE_NAME) or "unknown_service"
    otlp = _otlp.target(endpoint, protocol)
    return _Settings(
        service_name=name,
        content=content,
        prices=pricing.PricingTable(overrides),
        otlp=otlp,
        headers=headers,
        export_timeout=export_timeout,
        embedded=embedded,
        span_processors=tuple(span_processors),
        sampler=sampler,
        resource_attributes=resource_attributes,
        ledger=ledger,
        ledger_retention=ledger_retention,
        budgets=tuple(budgets),
        budget_alerts=budget_alerts,
        attribute_lengths=lengths,
        export_buffer=_otlp.buffer_settings(export_buffer, export_buffer_size_mb, name) if otlp else None,
    )


def _build(settings: _Settings) -> _Pipeline:
    """Step 2: the span processors, in order: accounting (in front of all the others: they receive the spans it passes
    on), statistics, the user's, the ledger's, OTLP export; and the SDK metrics; changes nothing global.

    The OTLP export threads start last, once nothing else can fail; if the ledger cannot be opened, the exporter
    built before it is shut down, so a failed ``configure()`` leaves no thread behind.

    Raises:
        ConfigurationError: The ledger cannot be opened, or OTLP export lacks its extra.
    """
    exporter: SpanExporter | None = None
    if settings.otlp is not None:
        _otlp.check_extra(settings.otlp[0])  # before anything starts: the exporters are built last
    processors: list[SpanProcessor] = list(settings.span_processors)
    stats = None
    if settings.embedded:
        stats = _embedded_processor(settings.service_name)
        processors.insert(0, stats)
    from otel_chatbot.spend import _recorder as _accounting

    accounting = _accounting.setup(
        settings.service_name,
        ledger=settings.ledger,
        budget_list=settings.budgets,
        alerts=settings.budget_alerts,
        retention=settings.ledger_retention,
    )
    processors.extend(accounting.processors)
    # last: the export threads start only once nothing else can fail
    metric_exporter = None
    if settings.otlp is not None:
        exporter, metric_exporter = _otlp.exporters(
            *settings.otlp, settings.headers, settings.export_timeout, settings.export_buffer
        )
    metrics = None  # no reader (no embedded statistics, no OTLP): nothing to record into
    if settings.embedded or metric_exporter is not None:
        metrics = CallMetrics(
            settings.service_name, exporter=metric_exporter, resource_attributes=settings.resource_attributes
        )
    if exporter is not None:
        processors.append(CountingBatchSpanProcessor(exporter))
    return _Pipeline((AccountingProcessor(processors, metrics),), stats, accounting.guard, metrics)


def _install(settings: _Settings, pipeline: _Pipeline) -> tuple[Installed, tuple[SpanProcessor, ...]]:
    """Step 3: make ``pipeline`` and ``settings`` the ones in force; returns the processors they replaced."""
    with _INSTALL_LOCK:
        before = STATE.installed
        installed = _install_provider(settings)
        previous = installed.fan_out.replace(pipeline.processors)
        if before is not None and before is not installed:
            # The global provider changed since the last configure() (another was set): its processors stop too.
            previous = before.fan_out.replace(()) + previous
        STATE.installed = installed
        STATE.prices = settings.prices
        STATE.content = settings.content
        STATE.budget_guard = pipeline.budget_guard
        _values.set_max_attribute_length(max(settings.attribute_lengths))
        _values.quiet_truncation_warnings()
    return installed, previous


def _install_provider(settings: _Settings) -> Installed:
    """The provider and fan-out processor in force: the ones installed before, else new ones (called under lock)."""
    installed = STATE.installed
    current = trace.get_tracer_provider()
    name = settings.service_name
    if installed is not None and current is installed.provider:
        if installed.service_name is not None and installed.service_name != name:
            logger.warning(
                "configure(%r): this process already exports as %r and an OpenTelemetry Resource cannot change; "
                "spans keep service.name=%r",
                name,
                installed.service_name,
                installed.service_name,
            )
        if installed.sampler is not None:  # ours: its limits follow the latest configure() (tracers share them)
            _set_limits(installed.provider, settings.attribute_lengths)
        if settings.sampler is not None:
            if installed.sampler is None:
                logger.warning("configure(sampler=...): the TracerProvider is not ours; its sampler stays")
            else:
                installed.sampler.sampler = settings.sampler
        return installed
    fan_out = FanOutProcessor()
    if isinstance(current, TracerProvider):
        # The user installed an SDK provider of their own: add to it rather than replace it.
        logger.info("configure(): adding otel_chatbot's processors to the TracerProvider already installed")
        current.add_span_processor(fan_out)
        return Installed(current, fan_out, None, None)
    resource = Resource.create(
        {SERVICE_INSTANCE_ID: INSTANCE_ID, **(settings.resource_attributes or {}), SERVICE_NAME: name}
    )
    initial = settings.sampler or TracerProvider(shutdown_on_exit=False).sampler  # the OTEL_TRACES_SAMPLER default
    switch_sampler = SwitchSampler(initial)
    general, span = settings.attribute_lengths
    limits = SpanLimits(max_attribute_length=general, max_span_attribute_length=span)
    provider = TracerProvider(resource=resource, sampler=switch_sampler, span_limits=limits)
    provider.add_span_processor(fan_out)
    trace.set_tracer_provider(provider)
    return Installed(provider, fan_out, switch_sampler, name)


def _set_limits(provider: TracerProvider, lengths: tuple[int, int]) -> None:
    """Change the attribute length limits of our provider in place: every tracer holds its ``SpanLimits`` object."""
    limits = getattr(provider, "_span_limits", None)
    if isinstance(limits, SpanLimits):
        limits.max_attribute_length, limits.max_span_attribute_length = lengths


def _one_of_several_workers() -> bool:
    """Whether this process looks like one worker of a server that runs several (uvicorn --workers, gunicorn)."""
    import multiprocessing
    import sys

    return multiprocessing.parent_process() is not None or "gunicorn.arbiter" in sys.modules


def _say_if_one_of_several_workers(otlp: bool) -> None:
    """The embedded statistics cover one process: say so at start-up when several workers share a port."""
    if not _one_of_several_workers():
        return
    if otlp:
        logger.info(
            "otel_chatbot: worker %d: its /metrics and report() cover this worker only; the totals are in the "
            "Collector's Prometheus (each worker exports with service.instance.id=%s: sum over instance)",
            os.getpid(),
            INSTANCE_ID,
        )
    else:
        logger.warning(
            "otel_chatbot: worker %d of several: its /metrics and report() cover this worker only. For totals, "
            "export to the Collector (OTEL_EXPORTER_OTLP_ENDPOINT; Prometheus sums the workers) and keep spend "
            "and budgets in a shared ledger (OTEL_CHATBOT_LEDGER); see docs/sampling-and-workers.md",
            os.getpid(),
        )


def _shutdown_all(processors: Sequence[SpanProcessor]) -> bool:
    for processor in processors:
        processor.shutdown()
    return True


def _embedded_processor(service_name: str) -> StatsSpanProcessor:
    from otel_chatbot.stats._processor import StatsSpanProcessor

    return StatsSpanProcessor(service_name=service_name)
