"""``AccountingProcessor``: every GenAI call counted once, whoever made its span, sampled or not.

``configure()`` installs it in front of every other processor it adds (the embedded statistics, the ledger, OTLP
export): they receive the spans it passes on. For each span it:

1. at start, stamps the ids of ``oc.conversation(...)`` (conversation, user, tenant, variant) on spans other
   instrumentations start inside the block, and opens a ``Scope`` for spans inside a stage or another GenAI span;
2. at end, applies the count-once rule: a span with ``gen_ai.usage.*`` and a model counts its usage unless a span
   inside it already did (usage is counted on the innermost inference span); our stage spans defer at their end
   (``chatbot.usage.deferred``), another instrumentation's enclosing span is passed on with that flag;
3. passes another instrumentation's inference span on enriched (a copy: the SDK's spans are immutable by then) with
   its cost (priced from its usage with the same table as ours) and its stage: ``chatbot.usage.stage`` inside a
   stage (the stage keeps the latency), else ``chatbot.stage`` implied by its operation (``chat`` → ``generation``),
   so an app with no decorators still has stages;
4. records the call's SDK metrics (``CallMetrics``).

``configure()``'s sampler turns DROP into RECORD_ONLY, so unsampled spans reach ``on_end`` too (and are accounted)
while the exporters, which skip unsampled spans, do not send them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from otel_chatbot import _scopes, semconv
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot._scopes import OPEN, Scope
from otel_chatbot._sdk import live_span_attributes, span_attributes, with_attributes
from otel_chatbot.spans._conversation import current_attributes
from otel_chatbot.spans._extraction import Extracted
from otel_chatbot.spans._run import _DETAIL_ATTRIBUTES, RUN_KEY, usage_attributes
from otel_chatbot.telemetry._metrics import CallMetrics

__all__ = ["AccountingProcessor", "implied_stage", "price_attributes"]

logger = logging.getLogger(__name__)

_INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_IMPLIED_STAGES = {
    "chat": semconv.Stage.GENERATION.value,
    "text_completion": semconv.Stage.GENERATION.value,
    "generate_content": semconv.Stage.GENERATION.value,
    "embeddings": semconv.Stage.EMBEDDINGS.value,
    "execute_tool": semconv.Stage.TOOL.value,
}
_STAGE = semconv.CHATBOT_STAGE
_OPERATION = semconv.GEN_AI_OPERATION_NAME
_INPUT = semconv.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
_COST = semconv.GEN_AI_USAGE_COST_AMOUNT
_REQUEST_MODEL = semconv.GEN_AI_REQUEST_MODEL
_RESPONSE_MODEL = semconv.GEN_AI_RESPONSE_MODEL
_TTFC = semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK


def _overrides(processor: SpanProcessor, hook: str) -> bool:
    """Whether ``processor``'s class implements ``hook`` (``SpanProcessor``'s own are no-ops)."""
    base = getattr(SpanProcessor, hook, None)
    return base is None or getattr(type(processor), hook, base) is not base


def implied_stage(operation: Any) -> str:
    """The stage of another instrumentation's GenAI span outside any stage: from its operation (default generation)."""
    if operation is None:
        return semconv.Stage.GENERATION.value
    return _IMPLIED_STAGES.get(str(operation), str(operation))


def _run_stage(parent_context: Context | None) -> str | None:
    """The stage of the ``traced_stage`` run in force in ``parent_context`` (the enclosing stage of a new span)."""
    run = otel_context.get_value(RUN_KEY, parent_context)
    stage = getattr(run, "stage", None)
    return stage if isinstance(stage, str) else None


class AccountingProcessor(SpanProcessor):
    """Counts every GenAI call once and passes (possibly enriched) spans on to ``downstream`` (see the module doc).

    Args:
        downstream: The processors that receive every span after accounting, in order.
        metrics: Where the calls' SDK metrics are recorded (None: no metrics).
    """

    def __init__(self, downstream: Sequence[SpanProcessor], metrics: CallMetrics | None = None) -> None:
        self.downstream = tuple(downstream)
        self.metrics = metrics
        # The hooks a processor actually implements (the base class's are no-ops), found once: every span pays
        # for these loops.
        self._starts = tuple(p.on_start for p in self.downstream if _overrides(p, "on_start"))
        self._endings = tuple(p._on_ending for p in self.downstream if _overrides(p, "_on_ending"))
        self._ends = tuple(p.on_end for p in self.downstream)

    # --- start -------------------------------------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            self._open(span, parent_context)
        except Exception:
            log_internal_error()
        for start in self._starts:
            start(span, parent_context=parent_context)

    def _open(self, span: Span, parent_context: Context | None) -> None:
        attributes = live_span_attributes(span)
        stage = attributes.get(_STAGE)
        if stage is None and (ids := current_attributes()):
            # Another instrumentation's span inside oc.conversation(...): the same ids as our stage spans get.
            missing = {key: value for key, value in ids.items() if key not in attributes}
            if missing:
                span.set_attributes(missing)
        parent = span.parent
        parent_scope = OPEN.get(parent.span_id) if parent is not None and not parent.is_remote else None
        if stage is not None:
            scope = Scope(parent_scope, str(stage))
        elif parent_scope is not None:
            scope = Scope(parent_scope, parent_scope.stage, parent_scope.implied)
        else:
            # A stage's span and its run are set in the same context: a span with no local parent is in no stage.
            run_stage = _run_stage(parent_context) if parent is not None else None
            operation = attributes.get(_OPERATION)
            if run_stage is not None:
                scope = Scope(None, run_stage)
            elif operation in _INFERENCE_OPERATIONS:  # another instrumentation's inference span, outside any stage
                scope = Scope(None, implied_stage(operation), implied=True)
            else:
                return  # not GenAI, not inside anything GenAI: nothing to track
        if len(OPEN) >= _scopes.MAX_OPEN:
            OPEN.clear()  # spans that never ended: forget them rather than grow (the dedup of open calls is lost)
            logger.warning("otel_chatbot: %d GenAI spans were started and never ended; forgot them", _scopes.MAX_OPEN)
        OPEN[span.get_span_context().span_id] = scope

    def _on_ending(self, span: Span) -> None:
        for ending in self._endings:
            ending(span)

    def shutdown(self) -> None:
        for processor in self.downstream:
            processor.shutdown()
        if self.metrics is not None:
            self.metrics.shutdown(2_000)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flushed = all(processor.force_flush(timeout_millis) for processor in self.downstream)
        if self.metrics is not None:
            flushed = self.metrics.force_flush(timeout_millis) and flushed
        return flushed

    # --- end ---------------------------------------------------------------------------------------------------------

    def on_end(self, span: ReadableSpan) -> None:
        try:
            span = self._account(span)
        except Exception:
            log_internal_error()
        for end in self._ends:
            end(span)

    def _account(self, span: ReadableSpan) -> ReadableSpan:
        context = span.context
        scope = OPEN.pop(context.span_id, None) if context is not None else None
        attributes = span_attributes(span)
        get = attributes.get
        stage = get(_STAGE)
        model = get(_REQUEST_MODEL) or get(_RESPONSE_MODEL)
        if scope is None and stage is None and model is None:
            return span  # not a GenAI span, not inside one: nothing to count (a request's server span...)
        has_usage = get(_INPUT) is not None or get(_OUTPUT) is not None or get(_COST) is not None
        operation = get(_OPERATION)
        inference = model is not None and (has_usage or operation in _INFERENCE_OPERATIONS)
        inner_usage = scope is not None and scope.inner_usage
        counted = has_usage and model is not None and not inner_usage and not get(semconv.CHATBOT_USAGE_DEFERRED)
        innermost = inference and not (scope is not None and scope.inner_inference)
        # Stream timings once per call too: the innermost span's, else (an instrumentation that records none, inside
        # one that does) the nearest enclosing span's that has them.
        stream = (
            inference
            and get(_TTFC) is not None
            and not (scope is not None and scope.inner_stream)
            and self.metrics is not None
        )
        if scope is not None and (counted or inference):
            scope.mark_ancestors(usage=counted, stream=stream)
        extra: dict[str, AttributeValue] = {}
        foreign = stage is None
        if foreign and (inference or has_usage):
            extra = self._foreign(attributes, scope, counted=counted, deferred=has_usage and inner_usage)
            if extra:
                span = with_attributes(span, extra)
                stage = extra.get(_STAGE)
                attributes = {**attributes, **extra}
                get = attributes.get
        metrics = self.metrics
        if metrics is not None and (stage is not None or innermost or counted or stream):
            start, end = span.start_time, span.end_time
            duration = (end - start) / 1e9 if start is not None and end is not None and end > start else 0.0
            metrics.record(
                attributes,
                duration,
                stage=None if stage is None else str(stage),
                inference=innermost,
                stream=stream,
                counted=counted,
                foreign=foreign,
            )
        return span

    def _foreign(
        self, attributes: Mapping[str, Any], scope: Scope | None, *, counted: bool, deferred: bool
    ) -> dict[str, AttributeValue]:
        """What another instrumentation's GenAI span lacks: its stage, its provider's current name, its cost."""
        get = attributes.get
        extra: dict[str, AttributeValue] = {}
        if scope is None or scope.stage is None or (scope.implied and scope.parent is None):
            extra[_STAGE] = scope.stage if scope is not None and scope.stage else implied_stage(get(_OPERATION))
        else:
            extra[semconv.CHATBOT_USAGE_STAGE] = scope.stage
        if deferred:
            extra[semconv.CHATBOT_USAGE_DEFERRED] = True
        if get(semconv.GEN_AI_PROVIDER_NAME) is None and get(semconv.GEN_AI_SYSTEM) is not None:
            extra[semconv.GEN_AI_PROVIDER_NAME] = str(get(semconv.GEN_AI_SYSTEM))
        if counted and get(_COST) is None:
            extra.update(price_attributes(lambda key: extra.get(key, get(key))))
        return extra


def price_attributes(get: Callable[[str], Any]) -> dict[str, AttributeValue]:
    """Cost attributes for a span's ``gen_ai.usage.*`` (our pricing table); ``chatbot.cost.unknown_model`` if none."""
    usage = Extracted()
    usage.input_tokens = _int(get(_INPUT))
    usage.output_tokens = _int(get(_OUTPUT))
    usage.cache_read_tokens = _int(get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS))
    usage.cache_write_tokens = _int(
        get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS) or get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    )
    usage.reasoning_tokens = _int(get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS) or get(_OPENLLMETRY_REASONING))
    for unit, value in _details(get).items():
        usage.detail(unit, value)
    model = get(_RESPONSE_MODEL) or get(_REQUEST_MODEL)
    provider = get(semconv.GEN_AI_PROVIDER_NAME)
    priced = usage_attributes(
        usage, None if model is None else str(model), None if provider is None else str(provider), estimated=False
    )
    keep = (
        _COST,
        semconv.GEN_AI_USAGE_COST_CURRENCY,
        semconv.GEN_AI_USAGE_COST_SOURCE,
        semconv.CHATBOT_COST_PRICE_VERSION,
        semconv.CHATBOT_COST_UNKNOWN_MODEL,
        semconv.GEN_AI_USAGE_COST,
    )
    return {key: value for key, value in priced.items() if key in keep}


_OPENLLMETRY_REASONING = "gen_ai.usage.reasoning_tokens"
"""OpenLLMetry's name for ``gen_ai.usage.reasoning.output_tokens`` (0.62)."""

_VENDOR_DETAILS = (
    # The anthropic SDK's own spans (anthropic/_tracing.py): the cache-write split, priced apart (1 h costs double).
    ("cache_write_5m_tokens", "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"),
    ("cache_write_1h_tokens", "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"),
)


def _details(get: Callable[[str], Any]) -> dict[str, int]:
    """The billable units beyond tokens (genai-prices usage keys) a span carries: in our attributes, else vendors'."""
    found: dict[str, int] = {}
    for unit, attribute in (*_DETAIL_ATTRIBUTES.items(), *_VENDOR_DETAILS):
        value = _int(get(attribute))
        if value and unit not in found:
            found[unit] = value
    return found


def _int(value: Any) -> int | None:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, float) and value >= 0 and value.is_integer():
        return int(value)
    return None
