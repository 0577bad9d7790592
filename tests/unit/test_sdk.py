"""The SDK adapter: the private layout it relies on is pinned here, and its public-API fallback gives the same results.

When an OpenTelemetry upgrade moves a field, ``test_the_installed_sdk_has_the_layout_the_adapter_reads`` fails (the
adapter would then silently take the slower public path): either teach ``otel_chatbot/_sdk.py`` the new layout or
accept the public path there.
"""

from __future__ import annotations

import operator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_chatbot import _sdk, semconv
from otel_chatbot.stats import _processor
from otel_chatbot.stats._processor import StatsSpanProcessor
from otel_chatbot.testing import reset_trace_globals

HOOKS = ["on_start", "_on_ending", "on_end", "force_flush", "shutdown"]


class Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.calls.append(("on_start", span.name))

    def _on_ending(self, span: Span) -> None:
        self.calls.append(("_on_ending", span.name))

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append(("on_end", span.name))

    def shutdown(self) -> None:
        self.calls.append(("shutdown", ""))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.calls.append(("force_flush", ""))
        return True


def _finished_spans() -> tuple[ReadableSpan, ...]:
    """Real ended spans of every shape the statistics read: root, stages, error, events, a remote parent."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.get_empty())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for i in range(3):
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
            with tracer.start_as_current_span("retrieval faq", kind=SpanKind.CLIENT) as span:
                span.set_attribute(semconv.CHATBOT_STAGE, "retrieval")
            span = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT)
            span.set_attributes(
                {
                    semconv.CHATBOT_STAGE: "generation",
                    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    semconv.GEN_AI_USAGE_INPUT_TOKENS: 100 + i,
                    semconv.GEN_AI_USAGE_COST_AMOUNT: 0.001,
                    semconv.GEN_AI_CONVERSATION_ID: f"c{i}",
                }
            )
            if i == 1:
                span.set_status(Status(StatusCode.ERROR, "RateLimitError"))
            span.end()
            root.add_event(semconv.CHATBOT_FEEDBACK_EVENT, {semconv.CHATBOT_FEEDBACK_SCORE: float(i)})
    remote = SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    tracer.start_span("from elsewhere", context=trace.set_span_in_context(NonRecordingSpan(remote))).end()
    provider.shutdown()
    return exporter.get_finished_spans()


def test_the_installed_sdk_has_the_layout_the_adapter_reads() -> None:
    assert vars(_sdk.LAYOUT) == {
        "span_fields": True,
        "fan_out": True,
        "tracer_provider_global": True,
        "tracer_provider_once": True,
        "context_var": True,
        "span_attributes": True,
        "span_key": True,
    }, "(with OTEL_SDK_DISABLED=true when otel_chatbot is imported, the probe sees no span: unset it)"
    assert _sdk.ended_span_fields is _sdk._private_span_fields
    assert _sdk.FanOutProcessor is _sdk._TupleFanOut
    assert _sdk.global_tracer_provider is _sdk._global_tracer_provider_fast
    assert _sdk.detach is _sdk._detach_fast
    assert _sdk.context_with_span is _sdk._context_with_span_fast
    assert _sdk._SET_CLEAN is _sdk._set_clean_fast
    assert _sdk.set_built_attributes is _sdk._set_built_fast
    # The same facts, spelled out against the SDK itself (what the probe relies on).
    span = _finished_spans()[0]
    assert type(span) is ReadableSpan
    assert {f"_{name}" for name in _sdk._FIELDS} <= set(vars(span))
    assert type(vars(span)["_attributes"]) is BoundedAttributes and type(vars(span)["_attributes"]._dict) is dict
    assert type(vars(span)["_events"]) is BoundedList
    assert vars(SynchronousMultiSpanProcessor())["_span_processors"] == ()  # type: ignore[no-untyped-call]
    assert hasattr(trace, "_TRACER_PROVIDER") and hasattr(trace, "_TRACER_PROVIDER_SET_ONCE")


def test_span_processor_has_exactly_the_hooks_the_fan_out_forwards() -> None:
    # A new hook in the SDK fails here: _ForwardingFanOut must forward it too (_TupleFanOut inherits it).
    hooks = {name for name, value in vars(SpanProcessor).items() if callable(value) and not name.startswith("__")}
    assert hooks == set(HOOKS)
    assert all(name in vars(_sdk._ForwardingFanOut) for name in hooks)


def _normalised(fields: _sdk.SpanFields) -> tuple[Any, ...]:
    *scalars, attributes, events = fields
    return (*scalars, dict(attributes), tuple(events))


def test_the_private_and_the_public_readers_give_the_same_fields() -> None:
    spans = _finished_spans()
    assert len(spans) == 10
    for span in spans:
        fast, public = _sdk._private_span_fields(span), _sdk.public_span_fields(span)
        assert _normalised(fast) == _normalised(public)
        assert type(fast[7]) is dict  # the plain dict, not a MappingProxy over BoundedAttributes
        assert _sdk.span_attributes(span) == dict(span.attributes or {})


def _snapshot(spans: tuple[ReadableSpan, ...]) -> dict[str, Any]:
    stats = StatsSpanProcessor(service_name="svc", clock=lambda: 1.0)
    for span in spans:
        stats.on_end(span)
    return stats.snapshot().to_dict()


def test_statistics_are_identical_through_the_public_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = _finished_spans()
    fast = _snapshot(spans)
    monkeypatch.setattr(_processor, "ended_span_fields", _sdk.public_span_fields)
    public = _snapshot(spans)
    assert fast == public
    assert fast["spans"] == 10 and fast["requests"]["count"] == 3  # a real snapshot, not an empty one
    generation = {s["stage"]: s for s in fast["stages"]}["generation"]
    assert generation["latency"]["count"] == 3 and generation["latency"]["errors"] == 1
    assert generation["input_tokens"] == 303
    assert [f["count"] for f in fast["feedback"]] == [3]


def test_a_hand_made_readable_span_takes_the_public_path() -> None:
    span = ReadableSpan(
        name="hand made",
        context=SpanContext(trace_id=1, span_id=2, is_remote=False),
        attributes={semconv.CHATBOT_STAGE: "retrieval"},
        start_time=1,
        end_time=2_000_001,
    )
    with pytest.raises(AttributeError):
        _sdk.ended_span_fields(span)
    assert _sdk.span_attributes(span) == {semconv.CHATBOT_STAGE: "retrieval"}
    stats = StatsSpanProcessor(service_name="svc", batch_size=1)
    stats.on_end(span)
    snapshot = stats.snapshot()
    assert snapshot.stage("retrieval") is not None


def test_the_probe_falls_back_to_the_public_api_when_the_layout_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    layout = _sdk._Layout()
    monkeypatch.setattr(_sdk, "LAYOUT", layout)
    monkeypatch.setattr(_sdk, "_private_span_fields", operator.attrgetter("_renamed_field"))
    monkeypatch.setattr(_sdk._TupleFanOut, "replace", lambda self, processors: ())
    _sdk._probe()
    assert (layout.span_fields, layout.fan_out) == (False, False)
    assert layout.tracer_provider_global and layout.tracer_provider_once


@pytest.mark.parametrize("fan_out_class", [_sdk._TupleFanOut, _sdk._ForwardingFanOut])
def test_both_fan_outs_send_every_hook_and_swap_atomically(fan_out_class: type[_sdk.FanOut]) -> None:
    fan_out = fan_out_class()
    provider = TracerProvider(resource=Resource.get_empty(), shutdown_on_exit=False)
    provider.add_span_processor(fan_out)
    first, second = Recorder(), Recorder()
    assert fan_out.replace([first]) == ()
    provider.get_tracer("t").start_span("one").end()
    assert fan_out.replace([second]) == (first,)
    assert fan_out.processors == (second,)
    provider.get_tracer("t").start_span("two").end()
    provider.force_flush()
    provider.shutdown()
    assert first.calls == [("on_start", "one"), ("_on_ending", "one"), ("on_end", "one")]
    assert second.calls == [
        ("on_start", "two"),
        ("_on_ending", "two"),
        ("on_end", "two"),
        ("force_flush", ""),
        ("shutdown", ""),
    ]


def test_the_fast_context_helpers_do_what_the_api_does() -> None:
    span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    key = otel_context.create_key("test")
    parent = otel_context.set_value("other", 1)
    for helper in (_sdk._context_with_span_fast, _sdk._context_with_span_public):
        ctx = helper(parent, span, key, "run")
        assert trace.get_current_span(ctx) is span and otel_context.get_value(key, ctx) == "run"
        assert otel_context.get_value("other", ctx) == 1 and type(ctx) is otel_context.Context
    token = _sdk.attach(ctx)
    assert otel_context.get_current() is ctx
    _sdk.detach(token)
    assert otel_context.get_current() is not ctx
    token = otel_context.attach(ctx)  # the two are interchangeable
    assert otel_context.get_current() is ctx
    _sdk.detach(token)
    assert trace.get_current_span() is not span


def test_clean_attributes_land_as_set_attributes_would_put_them() -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    values: dict[str, Any] = {"s": "v", "i": 3, "f": 0.25, "b": False, "t": ("a", "b")}
    for setter in (_sdk.set_clean_attributes, _sdk._set_clean_public, _sdk.set_built_attributes):
        span = provider.get_tracer("t").start_span("s", attributes={"start": 1})
        setter(span, values)
        setter(span, {"odd": [1, 2]})  # not a value the fast path takes: the SDK's validation turns it into a tuple
        span.end()
        setter(span, {"late": 1})  # ended: dropped, as set_attributes does
    fast, public, built = exporter.get_finished_spans()
    assert dict(fast.attributes or {}) == dict(public.attributes or {}) == {"start": 1, **values, "odd": (1, 2)}
    assert dict(built.attributes or {}) == {"start": 1, **values, "odd": [1, 2]}  # built values are trusted as such


def test_clean_attributes_respect_the_span_limits() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=2, max_span_attribute_length=3))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for setter in (_sdk.set_clean_attributes, _sdk.set_built_attributes):
        span = provider.get_tracer("t").start_span("s")
        setter(span, {"a": "long value", "b": 1, "c": 2})  # limits apply: through set_attributes
        span.end()
    assert [dict(span.attributes or {}) for span in exporter.get_finished_spans()] == [{"b": 1, "c": 2}] * 2


def test_global_tracer_provider_reads_what_the_api_returns() -> None:
    assert _sdk.global_tracer_provider() is trace.get_tracer_provider()  # the proxy, before any provider is set
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    assert _sdk.global_tracer_provider() is provider is trace.get_tracer_provider()
    reset_trace_globals()
    assert _sdk.global_tracer_provider() is trace.get_tracer_provider()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    second = TracerProvider()
    trace.set_tracer_provider(second)  # possible again after the reset
    assert trace.get_tracer_provider() is second
    provider.shutdown()
    second.shutdown()


def test_reset_trace_globals_refuses_an_unknown_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:  # undone before the conftest's own reset_trace_globals()
        patch.setattr(_sdk.LAYOUT, "tracer_provider_once", False)
        with pytest.raises(RuntimeError, match="cannot reset"):
            _sdk.reset_trace_globals()


def test_instrumented_by_opentelemetry_reads_the_contrib_marker() -> None:
    class App:
        pass

    app = App()
    assert not _sdk.instrumented_by_opentelemetry(app)
    app._is_instrumented_by_opentelemetry = True  # type: ignore[attr-defined]
    assert _sdk.instrumented_by_opentelemetry(app)


# Private names of OpenTelemetry that modules other than otel_chatbot/_sdk.py may use, and why.
_ALLOWED_PRIVATE = {
    ("telemetry/_distro.py", "_BaseConfigurator"): "the base class the SDK's configurator entry point requires",
    ("telemetry/_accounting.py", "_on_ending"): "forwards the SDK's own hook to the processors behind it",
}


def _opentelemetry_private_names() -> set[str]:
    """Every private (single-underscore) name the OpenTelemetry API and SDK modules and classes define, and the
    private fields of their live objects (a provider, a span, its attributes, a batch processor)."""
    import inspect

    import opentelemetry.context
    import opentelemetry.sdk.metrics
    import opentelemetry.sdk.metrics.export
    import opentelemetry.sdk.trace.export
    import opentelemetry.sdk.util
    from opentelemetry import attributes
    from opentelemetry.sdk import trace as sdk_trace
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__")

    names: set[str] = set()
    modules = (
        sdk_trace,
        opentelemetry.sdk.trace.export,
        attributes,
        opentelemetry.sdk.util,
        trace,
        opentelemetry.context,
        opentelemetry.sdk.metrics,
        opentelemetry.sdk.metrics.export,
    )
    for module in modules:
        for name, obj in vars(module).items():
            if private(name):
                names.add(name)
            if inspect.isclass(obj) and obj.__module__.startswith("opentelemetry"):
                names.update(n for n in dir(obj) if private(n))
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    span = provider.get_tracer("t").start_span("s", attributes={"a": 1})
    for obj in (provider, span, vars(span)["_attributes"], vars(provider)["_active_span_processor"]):
        names.update(n for n in vars(obj) if private(n))
    span.end()
    provider.shutdown()
    return names


def test_only_the_adapter_touches_opentelemetry_internals() -> None:
    """Whatever reads (or writes) the SDK's private layout for speed is in otel_chatbot/_sdk.py, where the probe and
    the tests above pin it: an OpenTelemetry upgrade then fails here, never as wrong numbers elsewhere."""
    import ast
    from pathlib import Path

    import otel_chatbot

    names = _opentelemetry_private_names()
    assert {"_attributes", "_span_processors", "_RUNTIME_CONTEXT", "_end_time"} <= names  # the scan sees the SDK
    package = Path(otel_chatbot.__file__).parent
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative == "_sdk.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            used: list[str] = []
            if isinstance(node, ast.Attribute) and node.attr in names:
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    used.append(node.attr)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
                used.extend(alias.name for alias in node.names if alias.name.startswith("_"))
            found.extend(
                f"{relative}:{getattr(node, 'lineno', 0)}: {name}"
                for name in used
                if (relative, name) not in _ALLOWED_PRIVATE
            )
    assert found == []
