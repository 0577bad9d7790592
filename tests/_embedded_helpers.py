"""Builders of finished spans with exact timestamps, for the embedded statistics tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_chatbot import semconv
from otel_chatbot.stats._processor import StatsSpanProcessor

MS = 1_000_000  # ns
T0 = 1_700_000_000_000_000_000


def stage_attrs(stage: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {semconv.CHATBOT_STAGE: stage}
    attrs.update(extra or {})
    return attrs


def generation_attrs(
    model: str = "gpt-4o-mini",
    *,
    inp: int = 100,
    out: int = 20,
    cost: float | None = 0.0001,
    provider: str = "openai",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.CHATBOT_STAGE: "generation",
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_REQUEST_MODEL: model,
        semconv.GEN_AI_PROVIDER_NAME: provider,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: inp,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: out,
    }
    if cost is not None:
        attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] = cost
    attrs.update(extra or {})
    return attrs


class TraceBuilder:
    """Builds whole traces with exact millisecond timings on a provider that has a StatsSpanProcessor."""

    def __init__(self, processor: StatsSpanProcessor | None = None, **options: Any) -> None:
        self.processor = processor or StatsSpanProcessor(service_name="svc", batch_size=1, **options)
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("test")
        self.trace_ids: list[str] = []

    @contextmanager
    def request(
        self,
        duration_ms: float,
        *,
        start_ms: float = 0.0,
        name: str = "POST /chat",
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[_Request]:
        start = T0 + round(start_ms * MS)
        root = self.tracer.start_span(name, kind=SpanKind.SERVER, start_time=start, attributes=attributes)
        req = _Request(self, root, start)
        self.trace_ids.append(f"{root.get_span_context().trace_id:032x}")
        yield req
        root.end(end_time=start + round(duration_ms * MS))

    def snapshot(self) -> Any:
        return self.processor.snapshot()


class _Request:
    def __init__(self, builder: TraceBuilder, root: trace.Span, start: int) -> None:
        self.builder = builder
        self.root = root
        self.start = start

    def stage(
        self,
        name: str,
        offset_ms: float,
        duration_ms: float,
        attributes: Mapping[str, Any] | None = None,
        *,
        error: str | None = None,
        kind: SpanKind = SpanKind.CLIENT,
        parent: trace.Span | None = None,
    ) -> trace.Span:
        """One finished stage span under the root (or under ``parent``); returned, to be a parent itself."""
        attrs = dict(attributes or stage_attrs(name))
        if error:
            attrs[semconv.ERROR_TYPE] = error
        ctx = trace.set_span_in_context(parent or self.root)
        span = self.builder.tracer.start_span(
            name, context=ctx, kind=kind, attributes=attrs, start_time=self.start + round(offset_ms * MS)
        )
        if error:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=self.start + round((offset_ms + duration_ms) * MS))
        return span
