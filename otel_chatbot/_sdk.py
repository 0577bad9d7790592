"""The one module that knows the OpenTelemetry SDK's and API's private layout; everything else uses what it exports.

What it relies on, and why:

- ``ReadableSpan``'s fields (``_name``, ``_attributes`` ...) and the plain containers inside ``BoundedAttributes``
  (``_dict``) and ``BoundedList`` (``_dq``): the statistics processor reads every finished span, and the public
  properties cost about half of that read (each one is a Python call; ``.attributes`` wraps a pure-Python mapping in
  a MappingProxy, ``.events`` copies into a tuple).
- ``SynchronousMultiSpanProcessor``'s processor tuple (``_span_processors``): ``configure()`` swaps the processors of
  one installed provider by replacing that tuple, so every hook the SDK sends, ``_on_ending`` included, reaches them
  with no extra call per span.
- ``opentelemetry.trace._TRACER_PROVIDER``: read directly once a provider is set, one call less per decorated call;
  while none is set, ``trace.get_tracer_provider()`` (and its ``os.environ`` lookup, ~0.4 us) still runs.
- ``trace._TRACER_PROVIDER_SET_ONCE``: reset by tests, as OpenTelemetry's own ``reset_trace_globals`` does.
- The API's runtime context (``context._RUNTIME_CONTEXT._current_context``, a ``ContextVar``) and the current-span key
  (``trace.propagation._SPAN_KEY``): a stage attaches its context around every call and every stream chunk, and
  ``attach``/``detach`` through the API are three Python calls each where the ``ContextVar``'s own ``set``/``reset``
  are one C call; a stage's context is built as one ``Context`` (span and run) instead of two copies.
- A live SDK span's lock and ``BoundedAttributes`` (``_lock``, ``_end_time``, ``_attributes._dict``, ``maxlen``,
  ``max_value_len``, ``_immutable``): a stage sets ten or so attributes it built itself from primitives, and the SDK's
  validation of each costs about 1 µs (more than everything else a stage adds). ``set_clean_attributes`` writes such
  values straight into the span's dict when no limit could apply, and goes through ``set_attributes`` otherwise.
- ``PeriodicExportingMetricReader._receive_metrics``: where each collection passes on its way to the exporter; the
  per-call metrics (``telemetry/_metrics.py``) add their own series there (``MergingMetricReader``).
- ``BatchSpanProcessor._batch_processor._metrics.drop_items``: the one place the SDK reports a span its full queue
  drops; ``count_queue_drops`` wraps that object so the drops are counted (``queue_full``) at no cost per span.
- ``MetricExporter._preferred_temporality`` / ``_preferred_aggregation``: what a wrapping exporter must repeat so
  the reader asks the wrapped one's preferences (``exporter_preferences``).

Each reader is chosen once, at import, by a probe of the installed SDK (a real span through a real provider): when the
layout is not what this module expects, the public API is used instead (slower, same results). ``LAYOUT`` says which
parts were found; ``tests/unit/test_sdk.py`` pins it, so an SDK upgrade that moves a field fails there, loudly. (With
``OTEL_SDK_DISABLED=true`` at import the probe records no span, so the public API is used: there are no SDK spans.)
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.metrics.export import MetricExporter, MetricsData, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    Span,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace import propagation as trace_propagation

__all__ = [
    "LAYOUT",
    "FanOutProcessor",
    "MergingMetricReader",
    "SpanFields",
    "attach",
    "context_with_span",
    "count_queue_drops",
    "detach",
    "ended_span_fields",
    "exporter_preferences",
    "global_tracer_provider",
    "instrumented_by_opentelemetry",
    "live_span_attributes",
    "public_span_fields",
    "reset_trace_globals",
    "set_built_attributes",
    "set_clean_attributes",
    "span_attributes",
    "with_attributes",
]

logger = logging.getLogger(__name__)

SpanFields = tuple[
    SpanContext | None,  # context
    SpanContext | None,  # parent
    str,  # name
    SpanKind,
    Status,
    int | None,  # start_time
    int | None,  # end_time
    Mapping[str, Any],  # attributes
    Sequence[Event],  # events
]
"""What ``ended_span_fields`` returns, in this order."""

_FIELDS = ("context", "parent", "name", "kind", "status", "start_time", "end_time", "attributes", "events")
# Each field of ReadableSpan is stored as "_" + its property's name; attributes and events are read from the plain
# dict and deque the SDK's bounded containers keep them in.
_PRIVATE_FIELDS = tuple(f"_{name}" for name in _FIELDS[:-2]) + ("_attributes._dict", "_events._dq")

public_span_fields: Callable[[ReadableSpan], SpanFields] = operator.attrgetter(*_FIELDS)
"""The fields of any span through its public properties (the fallback; works for every span type)."""

_private_span_fields: Callable[[ReadableSpan], SpanFields] = operator.attrgetter(*_PRIVATE_FIELDS)
_private_attributes: Callable[[ReadableSpan], Mapping[str, Any]] = operator.attrgetter("_attributes._dict")


class _Layout:
    """Which private parts of the installed SDK matched what this module expects (found once, at import)."""

    def __init__(self) -> None:
        self.span_fields = False
        self.fan_out = False
        self.tracer_provider_global = False
        self.tracer_provider_once = False
        self.context_var = False
        self.span_attributes = False
        self.span_key = False

    def __repr__(self) -> str:
        return f"_Layout({vars(self)})"


LAYOUT = _Layout()


# --- the fan-out span processor ----------------------------------------------------------------------------------


class _TupleFanOut(SynchronousMultiSpanProcessor):
    """The SDK's own multi-processor, whose processors ``replace()`` swaps whole.

    Every hook is the SDK's (``on_start``, ``_on_ending``, ``on_end``, ``shutdown``, ``force_flush`` and any later
    one), so the processors see exactly what they would if added to the provider directly. The SDK keeps them in a
    tuple read once per hook ("to avoid race conditions"); replacing that tuple is atomic, with no lock on the span
    path.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def replace(self, processors: Sequence[SpanProcessor]) -> tuple[SpanProcessor, ...]:
        """Make ``processors`` the ones every hook reaches; returns the previous ones."""
        new = tuple(processors)
        with self._lock:
            previous: tuple[SpanProcessor, ...] = self._span_processors
            self._span_processors = new
        return previous

    @property
    def processors(self) -> tuple[SpanProcessor, ...]:
        """The processors in force."""
        return self._span_processors


def _new_multi() -> SynchronousMultiSpanProcessor:
    return SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]


class _ForwardingFanOut(SpanProcessor):
    """The public-API fan-out: a new ``SynchronousMultiSpanProcessor`` per ``replace()``, every hook forwarded.

    Used when the SDK's multi-processor does not keep its processors as ``_TupleFanOut`` expects. It costs one more
    call per hook; ``tests/unit/test_sdk.py`` checks it overrides every hook ``SpanProcessor`` defines.
    """

    def __init__(self) -> None:
        # (processors, the multi-processor built from them): one tuple, replaced whole.
        self._current: tuple[tuple[SpanProcessor, ...], SynchronousMultiSpanProcessor] = ((), _new_multi())

    def replace(self, processors: Sequence[SpanProcessor]) -> tuple[SpanProcessor, ...]:
        """Make ``processors`` the ones every hook reaches; returns the previous ones."""
        multi = _new_multi()
        for processor in processors:
            multi.add_span_processor(processor)
        previous = self._current[0]
        self._current = (tuple(processors), multi)
        return previous

    @property
    def processors(self) -> tuple[SpanProcessor, ...]:
        """The processors in force."""
        return self._current[0]

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._current[1].on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        self._current[1]._on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        self._current[1].on_end(span)

    def shutdown(self) -> None:
        self._current[1].shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._current[1].force_flush(timeout_millis)


FanOut = _TupleFanOut | _ForwardingFanOut


# --- attributes a stage built itself ----------------------------------------------------------------------------

_SDK_SPAN: Any = getattr(sdk_trace, "_Span", Span)
"""The class of the spans the SDK's tracer starts."""
_CLEAN_TYPES = frozenset({str, int, float, bool})


def _fast_attributes_apply(span: trace.Span, count: int) -> bool:
    """Whether ``count`` new attributes can go straight into ``span``'s dict: an SDK span with no limit that could
    apply (no value-length limit, room under the count limit, still mutable)."""
    if type(span) is not _SDK_SPAN:
        return False
    bounded = getattr(span, "_attributes", None)
    if type(bounded) is not BoundedAttributes or bounded._immutable or bounded.max_value_len is not None:
        return False
    return bounded.maxlen is None or len(bounded._dict) + count <= bounded.maxlen


def _set_built_fast(span: Any, attributes: Mapping[str, Any]) -> None:
    if type(span) is _SDK_SPAN:  # (the checks of _fast_attributes_apply, inline: this runs on every decorated call)
        bounded = span._attributes
        if (
            type(bounded) is BoundedAttributes
            and bounded.max_value_len is None
            and not bounded._immutable
            and (bounded.maxlen is None or len(bounded._dict) + len(attributes) <= bounded.maxlen)
        ):
            with span._lock:
                if span._end_time is None:
                    bounded._dict.update(attributes)
                    return
    span.set_attributes(attributes)  # limits apply, another span type, or ended (the SDK warns and drops them)


def _set_clean_fast(span: trace.Span, attributes: Mapping[str, Any]) -> None:
    for value in attributes.values():
        kind = type(value)
        if kind not in _CLEAN_TYPES and not (kind is tuple and all(type(v) is str for v in value)):
            span.set_attributes(attributes)
            return
    _set_built_fast(span, attributes)


def _set_clean_public(span: trace.Span, attributes: Mapping[str, Any]) -> None:
    span.set_attributes(attributes)


# --- the probe ---------------------------------------------------------------------------------------------------


class _Recorder(SpanProcessor):
    """Records the hooks it receives and the last span ``on_end`` was given."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.ended: ReadableSpan | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.calls.append("on_start")

    def _on_ending(self, span: Span) -> None:
        self.calls.append("_on_ending")

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append("on_end")
        self.ended = span

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.calls.append("force_flush")
        return True


def _same_fields(fast: SpanFields, public: SpanFields) -> bool:
    *fast_scalars, fast_attributes, fast_events = fast
    *public_scalars, public_attributes, public_events = public
    return (
        fast_scalars == public_scalars
        and type(fast_attributes) is dict
        and fast_attributes == dict(public_attributes)
        and tuple(fast_events) == tuple(public_events)
    )


def _probe() -> None:
    """Run one span through a real provider and record in ``LAYOUT`` which private readers give the public results."""
    # (trace.get_tracer_provider() is only called when a provider is set: otherwise it may install one from the
    # environment, which importing otel_chatbot must not do.)
    provider_global = getattr(trace, "_TRACER_PROVIDER", LAYOUT)
    LAYOUT.tracer_provider_global = provider_global is None or (
        provider_global is not LAYOUT and provider_global is trace.get_tracer_provider()
    )
    once = getattr(trace, "_TRACER_PROVIDER_SET_ONCE", None)
    LAYOUT.tracer_provider_once = once is not None and callable(getattr(once, "do_once", None))
    try:
        fan_out = _TupleFanOut()
        hooks, fields = _Recorder(), _Recorder()
        provider = TracerProvider(
            sampler=ALWAYS_ON, resource=Resource.get_empty(), shutdown_on_exit=False, active_span_processor=fan_out
        )
        fan_out.replace([hooks])
        provider.add_span_processor(fields)  # the public way: reaches ``fields`` whatever the layout
        span = provider.get_tracer("otel_chatbot._sdk").start_span(
            "probe", kind=SpanKind.CLIENT, attributes={"probe.key": "value"}
        )
        span.add_event("probe.event", {"probe.n": 1})
        span.set_status(StatusCode.ERROR, "probe")
        span.end()
        provider.force_flush()
        provider.shutdown()
        LAYOUT.fan_out = hooks.calls == ["on_start", "_on_ending", "on_end", "force_flush", "shutdown"]
        ended = fields.ended
        LAYOUT.span_fields = type(ended) is ReadableSpan and _same_fields(
            _private_span_fields(ended), public_span_fields(ended)
        )
    except Exception:  # whatever went wrong, the public API is the safe choice
        logger.debug("otel_chatbot: the OpenTelemetry SDK layout probe failed; using the public API", exc_info=True)
    try:
        _probe_context()
        _probe_attributes()
    except Exception:
        logger.debug("otel_chatbot: the OpenTelemetry context layout probe failed; using the public API", exc_info=True)
    missing = [name for name, found in vars(LAYOUT).items() if not found]
    if missing:
        logger.debug("otel_chatbot: OpenTelemetry SDK layout not as expected for %s; using the public API", missing)


def _probe_attributes() -> None:
    provider = TracerProvider(sampler=ALWAYS_ON, resource=Resource.get_empty(), shutdown_on_exit=False)
    fields = _Recorder()
    provider.add_span_processor(fields)
    values: dict[str, Any] = {"probe.s": "v", "probe.i": 1, "probe.f": 0.5, "probe.b": True, "probe.t": ("a", "b")}
    fast, public = (provider.get_tracer("otel_chatbot._sdk").start_span("probe", attributes={"x": 1}) for _ in "ab")
    if not (_fast_attributes_apply(fast, len(values)) and _fast_attributes_apply(public, len(values))):
        return
    _set_clean_fast(fast, values)
    public.set_attributes(values)
    fast.end()
    fast_attributes = dict(fields.ended.attributes or {}) if fields.ended is not None else None
    public.end()
    public_attributes = dict(fields.ended.attributes or {}) if fields.ended is not None else None
    provider.shutdown()
    if fast_attributes is None or public_attributes is None:
        return
    LAYOUT.span_attributes = fast_attributes == public_attributes and all(
        type(fast_attributes[k]) is type(public_attributes[k]) for k in values
    )


def _probe_context() -> None:
    var = getattr(getattr(otel_context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    if isinstance(var, ContextVar):
        marker = otel_context.create_key("otel_chatbot.probe")
        probe = otel_context.set_value(marker, True)
        token = var.set(probe)
        try:
            LAYOUT.context_var = otel_context.get_current() is probe
        finally:
            var.reset(token)
    key = getattr(trace_propagation, "_SPAN_KEY", None)
    if isinstance(key, str):
        span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
        LAYOUT.span_key = trace.get_current_span(Context({key: span})) is span


_probe()


# --- the readers, chosen once ------------------------------------------------------------------------------------

ended_span_fields: Callable[[ReadableSpan], SpanFields] = (
    _private_span_fields if LAYOUT.span_fields else public_span_fields
)
"""The fields of a ``ReadableSpan`` as the SDK hands it to ``on_end`` (``type(span) is ReadableSpan``), in C.

Raises ``AttributeError`` for a ``ReadableSpan`` built by hand without the SDK's bounded containers: use
``public_span_fields`` then. Events come back as a sequence whose truth value costs no Python call.
"""


def span_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The attributes of an ended span as a plain mapping (no MappingProxy over a pure-Python mapping)."""
    if LAYOUT.span_fields and type(span) is ReadableSpan:
        try:
            return _private_attributes(span)
        except AttributeError:  # built by hand, without the SDK's bounded containers
            pass
    return span.attributes or {}


def live_span_attributes(span: Span) -> Mapping[str, Any]:
    """The attributes of a span being recorded (``on_start``), as a plain mapping, without copying them."""
    if LAYOUT.span_fields:
        try:
            return _private_attributes(span)  # a live Span keeps them as its ended copy does
        except AttributeError:
            pass
    return span.attributes or {}


def with_attributes(span: ReadableSpan, extra: Mapping[str, Any]) -> ReadableSpan:
    """A copy of an ended span with ``extra`` attributes added (the SDK's ended spans are immutable).

    The copy keeps the SDK's containers (``BoundedAttributes``), so the readers above still take their fast path.
    """
    merged = {**span_attributes(span), **extra}
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=BoundedAttributes(maxlen=None, attributes=merged, immutable=True, max_value_len=None),
        events=getattr(span, "_events", None) or span.events,  # the SDK's BoundedList, read in C by the fast path
        links=getattr(span, "_links", None) or span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


# --- the current context ------------------------------------------------------------------------------------------

_CURRENT: ContextVar[Context] | None = (
    otel_context._RUNTIME_CONTEXT._current_context if LAYOUT.context_var else None  # type: ignore[attr-defined]
)


def _detach_fast(token: Token[Context]) -> None:
    try:
        _CURRENT.reset(token)  # type: ignore[union-attr]
    except Exception:  # as the API's detach does: a token from another context is logged, never raised
        logger.exception("Failed to detach context")


attach: Callable[[Context], Token[Context]] = _CURRENT.set if _CURRENT is not None else otel_context.attach
"""``opentelemetry.context.attach``: the ``ContextVar``'s own ``set`` when the runtime context is the API's default."""

detach: Callable[[Token[Context]], None] = _detach_fast if _CURRENT is not None else otel_context.detach
"""``opentelemetry.context.detach``, logging (never raising) a token that cannot be reset, as the API does."""


def _context_with_span_fast(parent: Context | None, span: trace.Span, key: str, value: object) -> Context:
    base = otel_context.get_current() if parent is None else parent
    return Context({**base, trace_propagation._SPAN_KEY: span, key: value})


def _context_with_span_public(parent: Context | None, span: trace.Span, key: str, value: object) -> Context:
    return otel_context.set_value(key, value, trace.set_span_in_context(span, parent))


context_with_span: Callable[[Context | None, trace.Span, str, object], Context] = (
    _context_with_span_fast if LAYOUT.span_key else _context_with_span_public
)
"""``parent`` (default: the current context) with ``span`` as the current span and ``key`` set to ``value``: one
``Context`` built where ``set_span_in_context`` + ``set_value`` build two."""


_SET_CLEAN: Callable[[trace.Span, Mapping[str, Any]], None] = (
    _set_clean_fast if LAYOUT.span_attributes else _set_clean_public
)

set_built_attributes: Callable[[trace.Span, Mapping[str, Any]], None] = (
    _set_built_fast if LAYOUT.span_attributes else _set_clean_public
)
"""``set_clean_attributes`` for a mapping whose every value is known to be a ``str``, ``int``, ``float``, ``bool`` or a
tuple of strings (built so by the caller): the same, without checking each value's type."""


def set_clean_attributes(span: trace.Span, attributes: Mapping[str, Any]) -> None:
    """``span.set_attributes(attributes)`` for values a stage built itself: primitives and tuples of strings.

    Written straight into an SDK span's attribute dict when nothing the SDK's validation does could change them (any
    other value, span type or limit takes ``set_attributes``): the same attributes, without a validation per value.
    """
    _SET_CLEAN(span, attributes)


def _global_tracer_provider_fast() -> trace.TracerProvider:
    provider: trace.TracerProvider | None = trace._TRACER_PROVIDER
    return provider if provider is not None else trace.get_tracer_provider()


global_tracer_provider: Callable[[], trace.TracerProvider] = (
    _global_tracer_provider_fast if LAYOUT.tracer_provider_global else trace.get_tracer_provider
)
"""``trace.get_tracer_provider()``, without its ``os.environ`` lookup once a provider is set."""


FanOutProcessor: type[FanOut] = _TupleFanOut if LAYOUT.fan_out else _ForwardingFanOut
"""The span processor ``configure()`` installs once; ``replace()`` swaps the processors behind it atomically."""


class MergingMetricReader(PeriodicExportingMetricReader):
    """The SDK's periodic exporting reader; ``merge`` adds to each collection before it is exported.

    Args:
        exporter: Where collections go.
        interval_ms: The export interval (None: ``OTEL_METRIC_EXPORT_INTERVAL`` or the SDK's default).
        merge: Takes what the SDK collected and returns what to export.
    """

    def __init__(
        self, exporter: MetricExporter, interval_ms: float | None, merge: Callable[[MetricsData], MetricsData]
    ) -> None:
        self._merge = merge
        super().__init__(exporter, export_interval_millis=interval_ms)

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        super()._receive_metrics(self._merge(metrics_data), timeout_millis=timeout_millis, **kwargs)


def reset_trace_globals() -> None:
    """Forget the global TracerProvider so another can be set (tests), as OpenTelemetry's own test helper does.

    Raises:
        RuntimeError: This OpenTelemetry API keeps its global provider elsewhere (there is no public way to reset it).
    """
    if not (LAYOUT.tracer_provider_global and LAYOUT.tracer_provider_once):
        raise RuntimeError(
            "otel_chatbot cannot reset the global TracerProvider of this opentelemetry-api version "
            "(trace._TRACER_PROVIDER / trace._TRACER_PROVIDER_SET_ONCE not found)"
        )
    trace._TRACER_PROVIDER_SET_ONCE = type(trace._TRACER_PROVIDER_SET_ONCE)()
    trace._TRACER_PROVIDER = None


def instrumented_by_opentelemetry(target: object) -> bool:
    """Whether a contrib instrumentor already instrumented ``target`` (a FastAPI app, an httpx client).

    The contrib marks what it instruments with ``_is_instrumented_by_opentelemetry``; there is no public accessor.
    """
    return bool(getattr(target, "_is_instrumented_by_opentelemetry", False))


def count_queue_drops(processor: Any, on_drop: Callable[[int], None]) -> bool:
    """Call ``on_drop(count)`` whenever the SDK ``BatchSpanProcessor`` ``processor`` drops spans because its queue is
    full (besides the SDK's own accounting). False when this SDK has no such hook (nothing counted)."""
    batch = getattr(processor, "_batch_processor", None)
    inner: Any = getattr(batch, "_metrics", None)
    if batch is None or not callable(getattr(inner, "drop_items", None)):
        return False

    class _Counting:
        def drop_items(self, count: int, error_type: str = "queue_full") -> None:
            if error_type == "queue_full":
                on_drop(count)
            inner.drop_items(count, error_type)

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    batch._metrics = _Counting()
    return True


def exporter_preferences(exporter: Any) -> dict[str, Any]:
    """The keyword arguments that give a wrapping ``MetricExporter`` the temporality and aggregation of ``exporter``."""
    return {
        "preferred_temporality": getattr(exporter, "_preferred_temporality", None),
        "preferred_aggregation": getattr(exporter, "_preferred_aggregation", None),
    }
