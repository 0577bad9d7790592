"""What ``traced_stage`` computes once, at decoration time: span name, kind, start attributes, tracer and price."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_chatbot import semconv
from otel_chatbot._sdk import global_tracer_provider
from otel_chatbot._state import STATE
from otel_chatbot._values import DEFAULT_MAX_ATTRIBUTE_LENGTH, clean_text, max_attribute_length
from otel_chatbot._version import __version__
from otel_chatbot.spans._run import sanitize
from otel_chatbot.spend import _pricing as pricing

_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
# (stage) -> (span kind, default operation, span-name rule)
_CONTRACT: dict[str, tuple[SpanKind, str | None]] = {
    semconv.Stage.RETRIEVAL.value: (SpanKind.CLIENT, semconv.Operation.RETRIEVAL.value),
    semconv.Stage.GENERATION.value: (SpanKind.CLIENT, semconv.Operation.CHAT.value),
    semconv.Stage.EMBEDDINGS.value: (SpanKind.CLIENT, semconv.Operation.EMBEDDINGS.value),
    semconv.Stage.MEMORY_UPDATE.value: (SpanKind.INTERNAL, semconv.Operation.UPDATE_MEMORY.value),
    semconv.Stage.TOOL.value: (SpanKind.INTERNAL, semconv.Operation.EXECUTE_TOOL.value),
}


class Spec:
    """What is known at decoration time: the span's name, kind and start attributes, and how to get a tracer."""

    __slots__ = (
        "_price",
        "_price_table",
        "_provider_seen",
        "_tracer",
        "attributes",
        "enforce_budget",
        "explicit_provider",
        "kind",
        "model",
        "name",
        "provider",
        "stage",
        "stream",
    )

    def __init__(
        self,
        stage: str,
        *,
        model: str | None,
        provider: str | None,
        operation: str | None,
        data_source: str | None,
        tool_name: str | None,
        server_address: str | None,
        server_port: int | None,
        attributes: Mapping[str, Any] | None,
        enforce_budget: bool,
        tracer_provider: trace.TracerProvider | None,
        stream: bool = False,
        function: Callable[..., Any] | None = None,
    ) -> None:
        kind, default_operation = _CONTRACT.get(stage, (SpanKind.INTERNAL, None))
        op = operation or default_operation
        if stage == semconv.Stage.TOOL.value and tool_name is None and function is not None:
            tool_name = function.__name__
        if stage == semconv.Stage.RETRIEVAL.value:
            name = f"{op} {data_source}" if data_source else op or stage
        elif stage in (semconv.Stage.GENERATION.value, semconv.Stage.EMBEDDINGS.value):
            name = f"{op} {model}" if model else op or stage
        elif stage == semconv.Stage.MEMORY_UPDATE.value:
            name = op or stage
        elif stage == semconv.Stage.TOOL.value:
            name = f"{op} {tool_name}" if tool_name else op or stage
        else:
            name = stage
        attrs: dict[str, AttributeValue] = {semconv.CHATBOT_STAGE: stage}
        for key, value in (
            (semconv.GEN_AI_OPERATION_NAME, op),
            (semconv.GEN_AI_PROVIDER_NAME, provider),
            (semconv.GEN_AI_REQUEST_MODEL, model),
            (semconv.GEN_AI_DATA_SOURCE_ID, data_source),
            (semconv.GEN_AI_TOOL_NAME, tool_name if stage == semconv.Stage.TOOL.value else None),
            (semconv.SERVER_ADDRESS, server_address),
            (semconv.SERVER_PORT, server_port),
        ):
            if value is not None:
                attrs[key] = value
        if stream:
            attrs[semconv.GEN_AI_REQUEST_STREAM] = True
        for key, given in attrs.items():
            if isinstance(given, str):
                attrs[key] = clean_text(given)  # a model or tool name the caller built: valid UTF-8
        for key, value in (attributes or {}).items():
            clean = sanitize(value)
            if clean is not None:
                attrs[clean_text(str(key), DEFAULT_MAX_ATTRIBUTE_LENGTH)] = clean  # keys bounded too
        self.stage = stage
        self.name = clean_text(name, max_attribute_length())
        self.kind = kind
        self.model = model
        self.provider = provider
        self.attributes = attrs
        self.enforce_budget = enforce_budget
        self.explicit_provider = tracer_provider
        self.stream = stream
        self._provider_seen: object = None
        self._tracer: trace.Tracer | None = None
        self._price: pricing.ModelPrice | None = None
        self._price_table: pricing.PricingTable | None = None

    def price(self) -> pricing.ModelPrice | None:
        """The request model's price, looked up once per price table (the table changes only on configure())."""
        table = STATE.prices
        if table is None or table is not self._price_table:
            table = pricing.default_table()
            self._price = table.lookup(self.model, self.provider) if self.model else None
            self._price_table = table  # held, so a later table can never reuse its id
        return self._price

    def tracer(self) -> trace.Tracer | None:
        """The tracer to use, or None when no SDK is installed (then every wrapper is a plain call)."""
        provider = self.explicit_provider or global_tracer_provider()
        if provider is not self._provider_seen:
            self._tracer = None if isinstance(provider, _NO_SDK) else provider.get_tracer("otel_chatbot", __version__)
            self._provider_seen = provider
        return self._tracer
