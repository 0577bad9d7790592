"""Pure statistics over finished spans: latency sketches, stage shares, usage, caches, feedback (no OTel imports).

``Aggregator.record(...)`` takes plain values, so the span processor, the Jaeger reader and the tests all feed it
the same way. It is not thread-safe by itself: the processor calls it under one lock.

Example::

    agg = Aggregator(service_name="bot")
    agg.record(
        trace_id=1,
        is_root=True,
        name="request",
        kind="SPAN_KIND_SERVER",
        status="STATUS_CODE_UNSET",
        start_ns=0,
        end_ns=2_000_000,
        attributes={},
    )
    snap = agg.snapshot()
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_chatbot import semconv
from otel_chatbot._values import nano_usd, seconds, token_count
from otel_chatbot.stats._accumulators import (
    RELATIVE_ACCURACY,
    LatencyAcc,
    Pending,
    SeriesSet,
    Shape,
    StageAcc,
    StreamAcc,
    VariantAcc,
)
from otel_chatbot.stats._snapshot import (
    OTHER,
    CacheStats,
    CounterSeries,
    ModelLatency,
    StageStats,
    StatsSnapshot,
    StreamStats,
    VariantStats,
)
from otel_chatbot.stats._usage_tables import UsageAcc, UsageTables

__all__ = ["Aggregator", "LatencyAcc", "RELATIVE_ACCURACY"]

STATUS_ERROR = "STATUS_CODE_ERROR"
DURATION_BUCKETS_MS: tuple[float, ...] = tuple(round(b * 1000, 6) for b in semconv.DURATION_BUCKETS_S)
_NANO = 1_000_000_000
# Attribute names bound as module globals: the recording path reads a dozen per span, and a global is one lookup
# where ``semconv.X`` is two.
_CHATBOT_CACHE_HIT = semconv.CHATBOT_CACHE_HIT
_CHATBOT_STAGE = semconv.CHATBOT_STAGE
_CHATBOT_TENANT_ID = semconv.CHATBOT_TENANT_ID
_CHATBOT_VARIANT = semconv.CHATBOT_VARIANT
_ERROR_TYPE = semconv.ERROR_TYPE
_GEN_AI_CONVERSATION_ID = semconv.GEN_AI_CONVERSATION_ID
_GEN_AI_OPERATION_NAME = semconv.GEN_AI_OPERATION_NAME
_GEN_AI_PROVIDER_NAME = semconv.GEN_AI_PROVIDER_NAME
_GEN_AI_REQUEST_MODEL = semconv.GEN_AI_REQUEST_MODEL
_GEN_AI_REQUEST_STREAM = semconv.GEN_AI_REQUEST_STREAM
_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
_CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN = semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN
_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
_GEN_AI_USAGE_COST = semconv.GEN_AI_USAGE_COST_AMOUNT
_GEN_AI_USAGE_INPUT_TOKENS = semconv.GEN_AI_USAGE_INPUT_TOKENS
_GEN_AI_USAGE_OUTPUT_TOKENS = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
_USER_ID = semconv.USER_ID
_CHATBOT_USAGE_STAGE = semconv.CHATBOT_USAGE_STAGE
_CHATBOT_USAGE_DEFERRED = semconv.CHATBOT_USAGE_DEFERRED
_MAX_ERROR_TYPES = 32
_MAX_TRACE_SPANS = 1024  # stage spans kept per unfinished trace for the nesting (the rest count as top-level)
_MAX_DEPTH = 64  # ancestors walked to find a stage span's enclosing stage (a guard against malformed parent links)


class Aggregator:
    """All embedded statistics, fed one finished span at a time; memory is bounded by the options below.

    Args:
        service_name: The ``service_name`` label of the Prometheus series.
        max_pending_traces: Traces whose root has not ended yet kept for the share computation (oldest dropped).
        top_n: Users and conversations kept by name (the rest is folded into ``"other"``).
        max_tenants: Tenants kept by name (also the bound of the ``chatbot_tenant_id`` metric label).
        max_series: Series per Prometheus metric (then one ``otel_metric_overflow="true"`` series).
        clock: Wall clock for ``generated_at``.
    """

    def __init__(
        self,
        *,
        service_name: str,
        max_pending_traces: int = 10_000,
        top_n: int = 100,
        max_tenants: int = 100,
        max_series: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min(max_pending_traces, top_n, max_tenants, max_series) < 1:
            raise ValueError("Aggregator bounds must be >= 1")
        self.service_name = service_name
        self._clock = clock
        self._max_pending = max_pending_traces
        self.dropped_traces = 0
        self._stages: dict[str, StageAcc] = {}
        self._shapes: dict[tuple[Any, ...], Shape] = {}
        self._streams: dict[tuple[str, str], StreamAcc] = {}
        self._requests = LatencyAcc()
        self._request_ns = 0
        self._pending: OrderedDict[int, Pending] = OrderedDict()
        self._variants: dict[str, VariantAcc] = {}
        self._variant_of_conversation: OrderedDict[str, str] = OrderedDict()
        self._variant_of_trace: OrderedDict[int, str] = OrderedDict()
        self._max_variants = max_tenants
        self._usage = UsageTables(top_n=top_n, max_tenants=max_tenants, max_series=max_series)
        labels = (
            "service_name",
            "span_name",
            "span_kind",
            "status_code",
            "chatbot_stage",
            "gen_ai_operation_name",
            "gen_ai_request_model",
            "gen_ai_provider_name",
            "chatbot_variant",
            "chatbot_cache_hit",
        )
        self._durations = SeriesSet(semconv.METRIC_SPAN_DURATION, labels, DURATION_BUCKETS_MS, max_series)
        self._max_series = max_series

    @property
    def spans(self) -> int:
        """Spans recorded so far (each lands in exactly one duration series)."""
        return sum(h.count for h in self._durations.series.values())

    # --- recording -------------------------------------------------------------------------------------------------

    def record(
        self,
        trace_id: int,
        is_root: bool,
        name: str,
        kind: str,
        status: str,
        start_ns: int,
        end_ns: int,
        attributes: Mapping[str, Any],
        feedback: Sequence[Mapping[str, Any]] = (),
        span_id: int = 0,
        parent_id: int = 0,
    ) -> None:
        """Add one finished span.

        Args:
            trace_id: The span's trace id (an int, as OTel keeps it).
            is_root: True when the span has no parent in this process (the request's root).
            name: Span name.
            kind: ``SPAN_KIND_*`` name.
            status: ``STATUS_CODE_*`` name.
            start_ns: Start, ns since the epoch.
            end_ns: End, ns since the epoch.
            attributes: The span's attributes.
            feedback: Attributes of the span's ``chatbot.feedback`` events.
            span_id: The span's id (an int; 0 when unknown).
            parent_id: Its parent's span id (0 for none).
        """
        self.record_item(
            (trace_id, is_root, name, kind, status, start_ns, end_ns, attributes, feedback, span_id, parent_id)
        )

    def record_item(self, item: tuple[Any, ...]) -> None:
        """``record`` with its arguments in one tuple (the processor's buffer holds these; unpacking is cheaper)."""
        trace_id, is_root, name, kind, status, start_ns, end_ns, attributes, feedback, span_id, parent_id = item
        dur_ns = end_ns - start_ns
        if dur_ns < 0:
            dur_ns = 0
        ms = dur_ns / 1e6
        get = attributes.get
        stage = get(_CHATBOT_STAGE)
        model = get(_GEN_AI_REQUEST_MODEL)
        provider = get(_GEN_AI_PROVIDER_NAME)
        operation = get(_GEN_AI_OPERATION_NAME)
        # Spans of one kind repeat the same name/kind/status/stage/model: one lookup finds all their accumulators.
        shape_key = (
            name,
            kind,
            status,
            stage,
            operation,
            model,
            provider,
            get(_CHATBOT_VARIANT),
            get(_CHATBOT_CACHE_HIT),
        )
        shape = self._shapes.get(shape_key)
        if shape is None:
            shape = self._shape(shape_key)
        hist = shape.duration  # Hist.observe, inlined: this line runs for every span
        hist.counts[bisect_left(hist.bounds, ms)] += 1
        hist.sum += ms
        hist.count += 1
        if shape.stage is not None:
            self._record_stage(shape, trace_id, ms, start_ns, dur_ns, span_id, parent_id, get)
        else:
            if (usage_stage := get(_CHATBOT_USAGE_STAGE)) is not None and not get(_CHATBOT_USAGE_DEFERRED):
                self._record_inner_usage(str(usage_stage), model, provider, get)
            if not is_root:
                # A span between a stage and its enclosing stage (it ends after the inner one): keep its parent link.
                pending = self._pending.get(trace_id)
                if pending is not None and span_id in pending.wanted:
                    pending.up[span_id] = parent_id
                    pending.wanted.add(parent_id)
        if is_root:
            # A root that is itself a stage span encloses the others: no span is "directly under the request" then.
            self._record_root(trace_id, ms, start_ns, dur_ns, span_id if shape.stage is None else -1, shape.error)
        for event in feedback:
            self._record_feedback(trace_id, attributes, event)

    def _shape(self, key: tuple[Any, ...]) -> Shape:
        name, kind, status, stage, operation, model, provider, variant, hit = key
        # Labels as the span_metrics connector writes them: booleans as "true"/"false".
        hit_label = None if hit is None else ("true" if hit else "false")
        shape = Shape(
            self._durations.get((self.service_name, *key[:3], stage, operation, model, provider, variant, hit_label))
        )
        shape.error = status == STATUS_ERROR
        if stage is not None:
            shape.stage_name = str(stage)
            st = self._stages.get(shape.stage_name)
            if st is None:
                st = self._stages[shape.stage_name] = StageAcc()
            shape.stage = st
            shape.model = st.models.setdefault("" if model is None else str(model), LatencyAcc())
            shape.labels = (operation, model, provider)
        if len(self._shapes) < self._max_series:
            self._shapes[key] = shape
        return shape

    def _record_stage(
        self,
        shape: Shape,
        trace_id: int,
        ms: float,
        start_ns: int,
        dur_ns: int,
        span_id: int,
        parent_id: int,
        get: Callable[[str], Any],
    ) -> None:
        # Every stage span passes here, so the concerns every span has stay inline (latency, cache lookup, the trace's
        # stage time); each other concern is a method called only when the span has its attributes (errors, variant,
        # streaming, usage). A call costs ~0.1 us in CPython: splitting the common ones out would be measurable.
        st = shape.stage
        assert st is not None
        stage = shape.stage_name
        error = shape.error
        shape.model.add(ms, error, trace_id)  # latency per stage and model
        if error:
            _count_error(st.error_types, get(_ERROR_TYPE))
        hit = get(_CHATBOT_CACHE_HIT)
        if hit is not None:
            st.cache_lookups += 1
            if hit:
                st.cache_hits += 1
        # The trace's stage spans: shares, nesting and order are settled when its root ends (_settle).
        pending = self._pending.get(trace_id)
        if pending is None:
            pending = self._pending[trace_id] = Pending()
            if len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)  # oldest trace whose root never ended here
                self.dropped_traces += 1
        if len(pending.spans) < _MAX_TRACE_SPANS:
            pending.spans.append((span_id, parent_id, st, stage, start_ns, dur_ns))
            pending.wanted.add(parent_id)
        else:
            pending.overflow[stage] = pending.overflow.get(stage, 0) + dur_ns
        variant = get(_CHATBOT_VARIANT)
        if variant is not None:
            variant = str(variant)
            self._record_variant(pending, variant, error, get)
        out = get(_GEN_AI_USAGE_OUTPUT_TOKENS)
        if get(_GEN_AI_REQUEST_STREAM):
            self._record_stream(shape, dur_ns, out, get)
        inp = get(_GEN_AI_USAGE_INPUT_TOKENS)
        cost = get(_GEN_AI_USAGE_COST)
        if (inp is not None or out is not None or cost is not None) and not get(_CHATBOT_USAGE_DEFERRED):
            self._record_usage(shape, variant, inp, out, cost, get)

    def _record_variant(self, pending: Pending, variant: str, error: bool, get: Callable[[str], Any]) -> None:
        pending.variant = variant
        conv = get(_GEN_AI_CONVERSATION_ID)
        if conv is not None:
            _remember(self._variant_of_conversation, str(conv), variant, self._max_pending)
        var = self._variant(variant)
        var.calls += 1
        if error:
            var.errors += 1

    def _record_stream(self, shape: Shape, dur_ns: int, out: Any, get: Callable[[str], Any]) -> None:
        model = shape.labels[1]
        stage = shape.stage_name
        key = (stage, "" if model is None else str(model))
        acc = self._streams.get(key)
        if acc is None:
            acc = self._streams[key] = StreamAcc()
        ttfc = seconds(get(_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
        raw_ttft = get(_CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN)
        decode_s = dur_ns / 1e9
        if ttfc is not None:
            acc.ttfc.add(ttfc * 1000.0)
            decode_s = max(decode_s - ttfc, 0.0)  # generation (reasoning included) runs from the first chunk
        # spans of other instrumentations, or a stream with no text: the first chunk is all we know
        ttft = ttfc if raw_ttft is None else seconds(raw_ttft)
        if ttft is not None:
            acc.ttft.add(ttft * 1000.0)
        if out is not None and decode_s > 0:
            acc.output_tokens += token_count(out)
            acc.decode_s += decode_s

    def _record_usage(
        self, shape: Shape, variant: str | None, inp: Any, out: Any, cost: Any, get: Callable[[str], Any]
    ) -> None:
        """Tokens and cost of a stage span. The token and cost metrics are the SDK metrics (telemetry/_metrics.py)."""
        _, model, provider = shape.labels
        self._add_usage(shape.stage_name, model, provider, variant, inp, out, cost, get)

    def _record_inner_usage(self, stage: str, model: Any, provider: Any, get: Callable[[str], Any]) -> None:
        """Usage another instrumentation's inference span reported inside a stage (``chatbot.usage.stage``): counted
        for that stage, whose own span deferred to it (one call counted once); its latency is the stage's."""
        inp = get(_GEN_AI_USAGE_INPUT_TOKENS)
        out = get(_GEN_AI_USAGE_OUTPUT_TOKENS)
        cost = get(_GEN_AI_USAGE_COST)
        if inp is None and out is None and cost is None:
            return
        variant = get(_CHATBOT_VARIANT)
        self._add_usage(stage, model, provider, None if variant is None else str(variant), inp, out, cost, get)

    def _add_usage(
        self,
        stage: str,
        model: Any,
        provider: Any,
        variant: str | None,
        inp: Any,
        out: Any,
        cost: Any,
        get: Callable[[str], Any],
    ) -> None:
        """One call's usage into the usage table (rolled up per model, provider, tenant, user... at snapshot time)."""
        self._usage.add(
            stage,
            model,
            provider,
            get(_CHATBOT_TENANT_ID),
            variant,
            get(_USER_ID),
            get(_GEN_AI_CONVERSATION_ID),
            token_count(inp),
            token_count(out),
            token_count(get(_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
            nano_usd(cost),
        )

    def _record_root(
        self, trace_id: int, ms: float, start_ns: int, dur_ns: int, root_id: int, error: bool = False
    ) -> None:
        pending = self._pending.pop(trace_id, None)
        if pending is None:
            return  # a request without stages (health checks, static files) says nothing about stage shares
        self._requests.add(ms, error, trace_id)
        self._request_ns += dur_ns
        self._settle(pending, root_id, start_ns, dur_ns)
        if pending.variant is not None:
            self._variant(pending.variant).requests.add(ms, error, trace_id)
            _remember(self._variant_of_trace, trace_id, pending.variant, self._max_pending)

    def _settle(self, pending: Pending, root_id: int, root_start_ns: int, root_ns: int) -> None:
        """A finished request's stage spans into the stages' shares, enclosing stages and start offsets.

        A stage span's enclosing stage is its nearest ancestor span of another stage, through spans of any kind;
        a span inside a span of its own stage (recursion) adds no time, which its outer span already counts. The
        spans directly under the request are scaled down together when they overlap beyond the request's time.
        Spans whose parent is the root (``root_id``) need no walk: most of them.
        """
        top: list[tuple[StageAcc, int]] = []
        top_ns = 0
        first: dict[StageAcc, int] = {}
        tree: tuple[dict[int, str], dict[int, int]] | None = None
        for _, pid, st, stage, start, dur in pending.spans:
            if pid == root_id or not pid:
                st.top_count += 1
                top.append((st, dur))
                top_ns += dur
            else:
                if tree is None:
                    tree = _tree(pending)
                parent, inside_itself = _enclosing(pid, stage, *tree)
                if parent is None:
                    st.top_count += 1
                else:
                    st.parents[parent] = st.parents.get(parent, 0) + 1
                if not inside_itself:
                    if parent is None:
                        top.append((st, dur))
                        top_ns += dur
                    else:
                        st.nested_ns += dur
            seen = first.get(st)
            if seen is None or start < seen:
                first[st] = start
        for stage, ns in pending.overflow.items():  # beyond the spans kept per trace: counted as top-level
            st = self._stages[stage]
            top.append((st, ns))
            top_ns += ns
        scale = root_ns / top_ns if top_ns > root_ns else 1.0
        for st, dur in top:
            st.top_ns += dur * scale
        for st, start in first.items():
            st.offset_ns += start - root_start_ns
            st.offsets += 1

    def _record_feedback(self, trace_id: int, attributes: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        score = event.get(semconv.CHATBOT_FEEDBACK_SCORE)
        if score is None:
            return
        variant = event.get(semconv.CHATBOT_VARIANT) or attributes.get(semconv.CHATBOT_VARIANT)
        if variant is None:
            conv = event.get(semconv.GEN_AI_CONVERSATION_ID) or attributes.get(semconv.GEN_AI_CONVERSATION_ID)
            variant = self._variant_of_conversation.get(str(conv)) if conv is not None else None
        if variant is None:
            pending = self._pending.get(trace_id)
            variant = pending.variant if pending is not None else self._variant_of_trace.get(trace_id)
        self._variant("" if variant is None else str(variant)).feedback(float(score))

    def _variant(self, name: str) -> VariantAcc:
        var = self._variants.get(name)
        if var is None:
            if len(self._variants) >= self._max_variants and name != OTHER:
                return self._variant(OTHER)
            var = self._variants[name] = VariantAcc()
        return var

    # --- snapshot --------------------------------------------------------------------------------------------------

    def snapshot(self) -> StatsSnapshot:
        """Freeze the current state."""
        rollups = self._usage.rollups()
        stages = tuple(
            self._stage_stats(name, self._stages[name], parent, rollups["stage"].get(name))
            for name, parent in self._stage_tree()
        )
        return StatsSnapshot(
            service_name=self.service_name,
            generated_at=self._clock(),
            spans=self.spans,
            requests=self._requests.stats() if self._requests.count else None,
            stages=stages,
            streams=self._stream_stats(),
            usage=self._usage.breakdown(rollups),
            caches=self._cache_stats(rollups["stage"].get(semconv.Stage.GENERATION.value, UsageAcc())),
            variants=self._variant_stats(rollups["variant"]),
            feedback=tuple(fb for name, v in sorted(self._variants.items()) if (fb := v.feedback_stats(name))),
            histograms=tuple(self._durations.frozen()),
            counters=self._counters(),
        )

    def _stream_stats(self) -> tuple[StreamStats, ...]:
        return tuple(
            StreamStats(
                stage=stage,
                model=model,
                count=max(acc.ttft.count, acc.ttfc.count),
                ttft_p50_ms=acc.ttft.quantile(0.5),
                ttft_p95_ms=acc.ttft.quantile(0.95),
                ttft_p99_ms=acc.ttft.quantile(0.99),
                output_tokens_per_s=acc.output_tokens / acc.decode_s if acc.decode_s > 0 else None,
                ttfc_p50_ms=acc.ttfc.quantile(0.5),
                ttfc_p95_ms=acc.ttfc.quantile(0.95),
                ttfc_p99_ms=acc.ttfc.quantile(0.99),
            )
            for (stage, model), acc in sorted(self._streams.items())
        )

    def _cache_stats(self, generation: UsageAcc) -> tuple[CacheStats, ...]:
        """Lookups and hits per stage; a hit is worth the mean tokens and cost of a generation call."""
        gen_calls = generation.calls
        return tuple(
            CacheStats(
                stage=name,
                lookups=st.cache_lookups,
                hits=st.cache_hits,
                saved_tokens=round(st.cache_hits * (generation.input_tokens + generation.output_tokens) / gen_calls)
                if gen_calls
                else 0,
                saved_usd=st.cache_hits * generation.cost_nusd / gen_calls / _NANO if gen_calls else 0.0,
            )
            for name, st in sorted(self._stages.items())
            if st.cache_lookups
        )

    def _variant_stats(self, variant_usage: Mapping[str, UsageAcc]) -> tuple[VariantStats, ...]:
        return tuple(
            VariantStats(
                variant=name,
                requests=v.requests.stats() if v.requests.count else None,
                calls=v.calls,
                errors=v.errors,
                input_tokens=variant_usage.get(name, UsageAcc()).input_tokens,
                output_tokens=variant_usage.get(name, UsageAcc()).output_tokens,
                cost_usd=variant_usage.get(name, UsageAcc()).cost_nusd / _NANO,
                feedback=v.feedback_stats(name),
            )
            for name, v in sorted(self._variants.items())
            if name
        )

    def _stage_tree(self) -> list[tuple[str, str | None]]:
        """(stage, enclosing stage) in request order: the tree of stages flattened depth-first, siblings by mean
        start offset (stages not seen in a finished request last, by name)."""
        parent = {name: st.parent() for name, st in self._stages.items()}
        for name in parent:  # a cycle of "most often inside" (odd traces) is cut where it closes
            seen = {name}
            p = parent[name]
            while p is not None:
                if p in seen:
                    parent[p] = None
                    break
                seen.add(p)
                p = parent.get(p)
        children: dict[str | None, list[str]] = {}
        for name, p in parent.items():
            children.setdefault(p, []).append(name)

        def offset(name: str) -> tuple[float, str]:
            st = self._stages[name]
            return (st.offset_ns / st.offsets if st.offsets else math.inf), name

        out: list[tuple[str, str | None]] = []

        def visit(p: str | None) -> None:
            for name in sorted(children.get(p, ()), key=offset):
                out.append((name, p))
                visit(name)

        visit(None)
        return out

    def _stage_stats(self, name: str, st: StageAcc, parent: str | None, usage: UsageAcc | None) -> StageStats:
        usage = usage or UsageAcc()
        # A top-level stage's share counts only its time directly under the request (scaled per request so the
        # top-level shares add up to at most 1); a nested stage's counts all of its time.
        share_ns = st.top_ns if parent is None else st.top_ns + st.nested_ns
        return StageStats(
            stage=name,
            latency=LatencyAcc.merged(st.models.values()).stats(),
            share=share_ns / self._request_ns if self._request_ns else None,
            error_types=tuple(sorted(st.error_types.items(), key=lambda kv: (-kv[1], kv[0]))),
            models=tuple(ModelLatency(m, acc.stats()) for m, acc in sorted(st.models.items()) if m),
            cost_usd=usage.cost_nusd / _NANO,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            parent=parent,
            start_offset_ms=st.offset_ns / st.offsets / 1e6 if st.offsets else None,
        )

    def _counters(self) -> tuple[CounterSeries, ...]:
        return tuple(
            CounterSeries(semconv.METRIC_SPAN_CALLS, series.labels, float(series.count))
            for series in self._durations.frozen()
        )


def _count_error(error_types: dict[str, int], etype: Any) -> None:
    etype = str(etype or "unknown")
    if etype in error_types or len(error_types) < _MAX_ERROR_TYPES:
        error_types[etype] = error_types.get(etype, 0) + 1
    else:
        error_types[OTHER] = error_types.get(OTHER, 0) + 1


def _remember(table: OrderedDict[Any, str], key: Any, value: str, limit: int) -> None:
    table[key] = value
    table.move_to_end(key)
    if len(table) > limit:
        table.popitem(last=False)


def _tree(pending: Pending) -> tuple[dict[int, str], dict[int, int]]:
    """The trace's stage of each stage span id, and the parent of each span id known (stage spans and their
    non-stage ancestors)."""
    stage_of: dict[int, str] = {}
    links = pending.up
    for sid, pid, _, stage, _, _ in pending.spans:
        if sid:
            stage_of[sid] = stage
            links[sid] = pid
    return stage_of, links


def _enclosing(pid: int, stage: str, stage_of: Mapping[int, str], links: Mapping[int, int]) -> tuple[str | None, bool]:
    """(nearest enclosing stage of another name or None, whether a span of ``stage`` itself is on the way)."""
    inside_itself = False
    for _ in range(_MAX_DEPTH):
        if not pid:
            break
        enclosing = stage_of.get(pid)
        if enclosing is not None:
            if enclosing != stage:
                return enclosing, inside_itself
            inside_itself = True
        pid = links.get(pid, 0)
    return None, inside_itself
