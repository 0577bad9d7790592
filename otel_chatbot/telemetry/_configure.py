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

import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SDKSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otel_chatbot import _state as _runtime
from otel_chatbot import env
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend import _pricing as pricing

if TYPE_CHECKING:  # imported lazily at run time: the statistics are only loaded when embedded=True
    from otel_chatbot.stats._processor import StatsSpanProcessor
    from otel_chatbot.stats._snapshot import StatsSnapshot

if TYPE_CHECKING:
    from otel_chatbot.spend._budgets import Budget, BudgetAlert

__all__ = ["Telemetry", "configure"]

logger = logging.getLogger(__name__)


class _SwitchProcessor(SpanProcessor):
    """Delegates to the span processors of the ``configure()`` call in force; swapped atomically on reconfigure."""

    def __init__(self) -> None:
        # A tuple, replaced whole: readers never see a half-updated list (no lock on the span path).
        self.processors: tuple[SpanProcessor, ...] = ()

    def on_start(self, span: SDKSpan, parent_context: Context | None = None) -> None:
        for processor in self.processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self.processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self.processors)


class _SwitchSampler(Sampler):
    """Delegates to the sampler of the ``configure()`` call in force."""

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
        return self.sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return self.sampler.get_description()


class _Installed:
    """What ``configure()`` put into the process (once): the provider and the switches inside it."""

    def __init__(
        self,
        provider: TracerProvider,
        switch: _SwitchProcessor,
        sampler: _SwitchSampler | None,
        service_name: str | None,
    ) -> None:
        self.provider = provider
        self.switch = switch
        self.sampler = sampler
        self.service_name = service_name


_INSTALLED: _Installed | None = None
_INSTALL_LOCK = threading.Lock()


class Telemetry:
    """What ``configure()`` returns: the provider, the embedded statistics, report/dump/mount and shutdown."""

    def __init__(
        self,
        service_name: str,
        provider: TracerProvider | None,
        processors: Sequence[SpanProcessor],
        stats: StatsSpanProcessor | None,
    ) -> None:
        self.service_name = service_name
        self.tracer_provider = provider
        self._processors = tuple(processors)
        self._stats = stats
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
        return self._stats.snapshot()

    def dump(self, path: str) -> None:
        """Write ``report()`` as JSON to ``path``; ``otel-chatbot report PATH`` (and ``--baseline PATH``) read it."""
        self.report().dump(path)

    def mount(self, app: Any, *, path: str = "/metrics") -> None:
        """Serve ``GET /metrics/latency`` (JSON per stage) and ``GET /metrics`` (Prometheus text) on a FastAPI app."""
        from otel_chatbot.stats._http import mount

        mount(app, self.report, path=path)

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
        installed = _INSTALLED
        if installed is not None and installed.switch.processors == self._processors:
            installed.switch.processors = ()

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
        logger.warning("otel_chatbot: telemetry flush did not finish within %.1f s; unsent spans are dropped", timeout)
        return False
    return bool(outcome and outcome[0])


def _parse_endpoint(endpoint: str, protocol: str | None, *, base: bool = False) -> tuple[str, str]:
    """Validate an OTLP endpoint; return (protocol, endpoint for the exporter).

    ``base=True`` for ``OTEL_EXPORTER_OTLP_ENDPOINT``, which the OTLP spec defines as a base URL: HTTP appends
    ``/v1/traces`` to its path (``http://h:4318/otlp`` → ``http://h:4318/otlp/v1/traces``).
    """
    parsed = urllib.parse.urlsplit(endpoint.strip())
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if parsed.scheme not in ("http", "https", "grpc") or not parsed.hostname or port == -1:
        raise ConfigurationError(
            f"the OTLP endpoint {endpoint!r} is not a valid URL; use e.g. http://127.0.0.1:4317 (gRPC) or "
            "http://127.0.0.1:4318 (HTTP)."
        )
    if protocol is None:
        protocol = "http/protobuf" if port == 4318 or parsed.path.strip("/") else "grpc"
    if protocol == "grpc":
        scheme = "https" if parsed.scheme == "https" else "http"
        return protocol, f"{scheme}://{parsed.netloc}"
    if base:
        path = parsed.path.rstrip("/") + "/v1/traces"
    else:
        path = parsed.path if parsed.path.strip("/") else "/v1/traces"
    return protocol, urllib.parse.urlunsplit(
        (parsed.scheme if parsed.scheme != "grpc" else "http", parsed.netloc, path, parsed.query, "")
    )


def _otlp_exporter(endpoint: str | None, headers: Mapping[str, str] | None, timeout: float) -> SpanExporter:
    protocol = env.otlp_protocol(strict=True)
    url = endpoint or env.otlp_traces_endpoint()
    assert url is not None
    base = endpoint is None and not os.environ.get(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    protocol, url = _parse_endpoint(url, protocol, base=base)
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

            return GrpcExporter(
                endpoint=url,
                insecure=url.startswith("http://"),
                headers=dict(headers) if headers else None,
                timeout=timeout,
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=url, headers=dict(headers) if headers else None, timeout=timeout)
    except ImportError as exc:
        raise ConfigurationError(
            f"OTLP export needs the 'otlp' extra ({exc.name} is missing): pip install 'otel-chatbot[otlp]'."
        ) from None


def _install_provider(
    service_name: str, resource_attributes: Mapping[str, Any] | None, sampler: Sampler | None
) -> _Installed:
    global _INSTALLED
    installed = _INSTALLED
    current = trace.get_tracer_provider()
    if installed is not None and current is installed.provider:
        if installed.service_name is not None and installed.service_name != service_name:
            logger.warning(
                "configure(%r): this process already exports as %r and an OpenTelemetry Resource cannot change; "
                "spans keep service.name=%r",
                service_name,
                installed.service_name,
                installed.service_name,
            )
        if sampler is not None:
            if installed.sampler is None:
                logger.warning("configure(sampler=...): the TracerProvider is not ours; its sampler stays")
            else:
                installed.sampler.sampler = sampler
        return installed
    switch = _SwitchProcessor()
    if isinstance(current, TracerProvider):
        # The user installed an SDK provider of their own: add to it rather than replace it.
        logger.info("configure(): adding otel_chatbot's processors to the TracerProvider already installed")
        current.add_span_processor(switch)
        _INSTALLED = _Installed(current, switch, None, None)
        return _INSTALLED
    resource = Resource.create({**(resource_attributes or {}), SERVICE_NAME: service_name})
    initial = sampler or TracerProvider(shutdown_on_exit=False).sampler  # the OTEL_TRACES_SAMPLER default
    switch_sampler = _SwitchSampler(initial)
    provider = TracerProvider(resource=resource, sampler=switch_sampler)
    provider.add_span_processor(switch)
    trace.set_tracer_provider(provider)
    _INSTALLED = _Installed(provider, switch, switch_sampler, service_name)
    return _INSTALLED


def configure(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
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
    ledger: str | None = None,
    ledger_retention: str | None = None,
    budgets: Sequence[Budget] = (),
    budget_alerts: Sequence[Callable[[BudgetAlert], None]] | None = None,
) -> Telemetry:
    """Set up tracing for a chatbot: provider, exporters, embedded statistics, content capture and prices.

    Example::

        tel = oc.configure("support-bot", endpoint="http://127.0.0.1:4317")
        print(tel.report())

    Honours the standard variables (``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_*``,
    ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ``OTEL_RESOURCE_ATTRIBUTES``) and ours (``OTEL_CHATBOT_*``).

    Args:
        service_name: ``service.name`` (default ``OTEL_SERVICE_NAME``, else ``unknown_service``).
        endpoint: OTLP endpoint; gRPC or HTTP chosen from the URL (port 4318 or a path → HTTP) unless
            ``OTEL_EXPORTER_OTLP_PROTOCOL`` says. Default: ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``; none → no OTLP.
        embedded: Install the in-process statistics (``report()``, ``/metrics``). Default True.
        capture_content: Record prompts and responses (also on with
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``). Default off.
        prices: Price overrides, USD per 1M tokens: ``{"my-model": {"input": 1.0, "output": 2.0,
            "cache_read": 0.1}}``; they win over ``OTEL_CHATBOT_PRICES_FILE`` and the bundled genai-prices data.
        sampler: An OpenTelemetry sampler (default: ``OTEL_TRACES_SAMPLER`` or parent-based always-on).
        redact: Applied to every captured content string before it is set.
        max_content_length: Maximum characters of one content attribute (default 8192).
        headers: OTLP headers (e.g. an API key for a hosted backend).
        resource_attributes: Extra resource attributes.
        span_processors: Extra span processors (e.g. an in-memory exporter in tests).
        export_timeout: Seconds one OTLP export may take.
        ledger: The usage ledger every priced call is appended to (off the request path): a SQLite file path or a
            ``postgresql://`` URL. Default ``OTEL_CHATBOT_LEDGER``; none → no ledger.
        ledger_retention: Delete ledger rows older than this, e.g. ``"90d"`` (default: keep everything).
        budgets: ``oc.Budget(...)`` spend limits, read from the ledger (in memory when there is no ledger).
        budget_alerts: Soft-limit alert callbacks (default: a log warning), e.g. ``budgets.WebhookAlert(url)``.

    Returns:
        The :class:`Telemetry` handle.

    Raises:
        ConfigurationError: A malformed price file, a bad endpoint URL or an invalid environment value.
    """
    # Resolve and validate everything before touching global state: a mistake raises and changes nothing.
    if env.sdk_disabled(strict=True):
        logger.info("OTEL_SDK_DISABLED=true: otel_chatbot installs no tracing")
        return Telemetry(service_name or "unknown_service", None, (), None)

    name = service_name or os.environ.get(env.OTEL_SERVICE_NAME) or "unknown_service"
    content_on = capture_content or env.capture_content(strict=True)
    limit = max_content_length if max_content_length is not None else env.max_content_length(strict=True)
    if limit <= 0:
        raise ConfigurationError(f"max_content_length must be a positive number of characters, not {limit}.")
    overrides: dict[str, pricing.ModelPrice] = {}
    if path := env.prices_file():
        overrides.update(pricing.load_overrides_file(path))
    if prices is not None:
        overrides.update(pricing.parse_overrides(prices))
    processors: list[SpanProcessor] = list(span_processors)
    exporter = None
    if endpoint is not None or env.otlp_traces_endpoint() is not None:
        exporter = _otlp_exporter(endpoint, headers, export_timeout)  # validates the URL; starts no thread
    stats = None
    if embedded:
        stats = _embedded_processor(name)
        processors.insert(0, stats)
    from otel_chatbot.spend import _recorder as _accounting

    try:
        accounting = _accounting.setup(
            name, ledger=ledger, budget_list=budgets, alerts=budget_alerts, retention=ledger_retention
        )
    except BaseException:
        if exporter is not None:
            exporter.shutdown()
        raise
    processors.extend(accounting.processors)
    if exporter is not None:  # last: its export thread starts only once nothing else can fail
        processors.append(BatchSpanProcessor(exporter))

    pricing.warm_up()  # the first priced span should not pay for loading the price data

    with _INSTALL_LOCK:
        installed = _install_provider(name, resource_attributes, sampler)
        previous = installed.switch.processors
        installed.switch.processors = tuple(processors)
        pricing.set_default_table(pricing.PricingTable(overrides))
        _runtime.install(
            _runtime.Runtime(
                capture_content=content_on,
                max_content_length=limit,
                redact=redact or _runtime.Runtime().redact,
                budget_guard=accounting.guard.guard if accounting.guard is not None else None,
            )
        )
        accounting.activate()
    if previous:
        # Stop what the previous configure() exported to, without blocking the caller for long.
        _bounded(lambda: _shutdown_all(previous), 2.0)
    return Telemetry(name, installed.provider, processors, stats)


def _shutdown_all(processors: Sequence[SpanProcessor]) -> bool:
    for processor in processors:
        processor.shutdown()
    return True


def _embedded_processor(service_name: str) -> StatsSpanProcessor:
    from otel_chatbot.stats._processor import StatsSpanProcessor

    return StatsSpanProcessor(service_name=service_name)
