"""The bounded trace store and conversation store behind ``StatsSnapshot.traces`` and ``.conversations`` (no OTel
imports), and the feed of the in-process history.

Per span, ``TraceStore.record_item`` appends the processor's buffered item to its trace's pending list (one dict
lookup and an append). The work happens when the trace's root ends: one pass over its spans counts them and their
usage into the history, tells whether the trace ran a stage (only those are kept), and finds its conversation. Kept
traces hold the raw items; they become ``TraceRecord``\\ s (JSON-safe attributes) when a snapshot asks.

Bounds: ``max_open_traces`` traces whose root has not ended (the oldest is dropped, its spans still counted in the
history), ``max_spans_per_trace`` spans per trace (the rest counted in ``dropped_spans``), ``recent_traces`` +
``slowest_traces`` kept traces, ``max_conversations`` conversations of ``max_turns`` turns each.

Example::

    store = TraceStore(history=History())
    store.record_item(item)  # the processor's buffered tuple, one per finished span
    traces, conversations = store.traces(), store.conversations()
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any

from otel_chatbot import semconv
from otel_chatbot._values import nano_usd, token_count
from otel_chatbot.stats._history import History
from otel_chatbot.stats._snapshot import ConversationRecord, SpanRecord, TraceRecord, TurnRecord

__all__ = ["MAX_ATTRIBUTE_CHARS", "TraceStore"]

MAX_ATTRIBUTE_CHARS = 1024
"""Longer string attribute values are cut to this many characters followed by ``…``."""
_MAX_LIST_ITEMS = 128
_NANO = 1_000_000_000
_ERROR = "STATUS_CODE_ERROR"
_STAGE = semconv.CHATBOT_STAGE
_USAGE_STAGE = semconv.CHATBOT_USAGE_STAGE
_USAGE_DEFERRED = semconv.CHATBOT_USAGE_DEFERRED
_INPUT_TOKENS = semconv.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT_TOKENS = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
_COST = semconv.GEN_AI_USAGE_COST_AMOUNT
_CONVERSATION = semconv.GEN_AI_CONVERSATION_ID
_TTFT = semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN
_TTFC = semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
_GENERATION = semconv.Stage.GENERATION.value
_USER_ID = semconv.USER_ID
_REQUEST_MODEL = semconv.GEN_AI_REQUEST_MODEL
_RESPONSE_MODEL = semconv.GEN_AI_RESPONSE_MODEL
_TENANT_ID = semconv.CHATBOT_TENANT_ID
_VARIANT = semconv.CHATBOT_VARIANT
_FEEDBACK = semconv.CHATBOT_FEEDBACK_EVENT

Item = tuple[Any, ...]
"""The processor's buffered span: trace id, is root, name, kind, status, start ns, end ns, attributes, feedback
events, span id, parent span id."""


_Kept = tuple[float, int, Item, list[Item], int, bool]
"""A finished trace that ran a stage: root duration ms, trace id, root item, its spans (root included), spans
dropped, any span failed. Kept raw (converted when a snapshot asks)."""

_Turn = tuple[int, int, float, Any, Any, int, int, int, bool]
"""A turn, raw (no span attributes held): trace id, root start ns, latency ms, time to first token (s) and model as
the generation call's attributes say, tokens in and out, nano-USD, error."""


class _Conversation:
    __slots__ = ("user", "tenant", "variant", "turns")

    def __init__(self, max_turns: int) -> None:
        self.user: str | None = None
        self.tenant: str | None = None
        self.variant: str | None = None
        self.turns: deque[_Turn] = deque(maxlen=max_turns)


class TraceStore:
    """Pending spans per trace, the kept recent and slowest traces, the recent conversations; feeds ``history``.

    Args:
        history: Where spans, usage and requests are counted.
        max_open_traces: Traces whose root has not ended yet, their spans held (the oldest is dropped beyond it, its
            spans counted in the history).
        recent_traces: Most recent finished traces kept (those that ran a stage).
        slowest_traces: Slowest finished traces kept, by root duration.
        max_spans_per_trace: Spans kept per trace, the root included.
        max_conversations: Most recent conversations kept.
        max_turns: Most recent turns kept per conversation.
    """

    def __init__(
        self,
        *,
        history: History,
        max_open_traces: int = 1000,
        recent_traces: int = 50,
        slowest_traces: int = 20,
        max_spans_per_trace: int = 200,
        max_conversations: int = 100,
        max_turns: int = 200,
    ) -> None:
        _check("max_open_traces", max_open_traces, 1)
        _check("recent_traces", recent_traces, 0)
        _check("slowest_traces", slowest_traces, 0)
        _check("max_spans_per_trace", max_spans_per_trace, 1)
        _check("max_conversations", max_conversations, 0)
        _check("max_turns", max_turns, 1)
        self._history = history
        self._interval_ns = history._interval_ns
        self._max_pending = max_open_traces
        self._max_children = max_spans_per_trace - 1  # the root is kept apart from its trace's list
        self._pending: OrderedDict[int, list[Item]] = OrderedDict()
        self._dropped: dict[int, int] = {}  # trace id -> spans beyond max_spans_per_trace (pending traces only)
        self._recent: deque[_Kept] = deque(maxlen=recent_traces)
        self._max_slowest = slowest_traces
        self._slowest: list[tuple[float, int, _Kept]] = []  # min-heap by root duration
        self._seq = itertools.count()
        self._records: dict[tuple[int, int], TraceRecord] = {}  # converted kept traces, by (trace id, root span id)
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        self._max_conversations = max_conversations
        self._max_turns = max_turns
        self.dropped_traces = 0
        """Open traces dropped because ``max_open_traces`` newer ones were waiting for their root."""

    # --- per span ---------------------------------------------------------------------------------------------------

    def record_item(self, item: Item) -> None:
        """Add one finished span (the processor's buffered tuple)."""
        trace_id = item[0]
        if item[1]:
            self._finish(trace_id, item)
            return
        pending = self._pending
        spans = pending.get(trace_id)
        if spans is None:
            spans = pending[trace_id] = []
            if len(pending) > self._max_pending:
                self._evict()
        if len(spans) < self._max_children:
            spans.append(item)
        else:
            self._dropped[trace_id] = self._dropped.get(trace_id, 0) + 1
            self._account((item,))

    def _evict(self) -> None:
        trace_id, spans = self._pending.popitem(last=False)
        self._dropped.pop(trace_id, None)
        self.dropped_traces += 1
        self._account(spans)

    def _account(self, spans: Iterable[Item]) -> None:
        """Count spans that will never reach a kept trace (dropped ones) in the history."""
        slot_of = self._history.slot
        for item in spans:
            slot = slot_of(item[6])
            if slot is None:
                continue
            slot.spans += 1
            usage = _usage(item[7].get)
            if usage is not None:
                slot.input_tokens += usage[0]
                slot.output_tokens += usage[1]
                slot.cost_nusd += usage[2]

    # --- at root end ------------------------------------------------------------------------------------------------

    def _finish(self, trace_id: int, root: Item) -> None:
        spans = self._pending.pop(trace_id, None) or []
        dropped = self._dropped.pop(trace_id, 0) if self._dropped else 0
        spans.append(root)
        slot_of = self._history.slot
        interval_ns = self._interval_ns
        start_ns, end_ns = root[5], root[6]
        # Nearly always every span ended within its root's interval: one slot for all, counted at once.
        slot = slot_of(end_ns)
        same = start_ns // interval_ns == end_ns // interval_ns
        if same and slot is not None:
            slot.spans += len(spans)
        slot_index = end_ns // interval_ns
        has_stage = error = False
        conversation = tagged = call = None
        inp = out = nusd = 0
        for item in spans:
            if not same:
                index = item[6] // interval_ns
                if index != slot_index:
                    slot_index = index
                    slot = slot_of(item[6])
                if slot is not None:
                    slot.spans += 1
            if item[4] == _ERROR:
                error = True
            get = item[7].get
            if conversation is None and (conversation := get(_CONVERSATION)) is not None:
                tagged = item
            stage = get(_STAGE)
            if stage is not None:
                has_stage = True
            elif get(_USAGE_STAGE) is None:
                continue
            # A call's usage, counted as Aggregator.record_item counts it: a stage span's, or an inner span's that
            # names its stage (chatbot.usage.stage), unless deferred to such an inner span.
            i, o, c = get(_INPUT_TOKENS), get(_OUTPUT_TOKENS), get(_COST)
            if (i is None and o is None and c is None) or get(_USAGE_DEFERRED):
                continue
            i = token_count(i)
            o = token_count(o)
            c = nano_usd(c) or 0
            inp += i
            out += o
            nusd += c
            if call is None or stage == _GENERATION:
                call = item  # the turn's model and time to first token come from its generation call
            if slot is not None:
                slot.input_tokens += i
                slot.output_tokens += o
                slot.cost_nusd += c
        duration_ms = (end_ns - start_ns) / 1e6 if end_ns > start_ns else 0.0
        # A request is a root whose trace ran a stage, as in snapshot.requests: health checks, the view's own reads and
        # feedback posts would otherwise pull the interval's percentiles down and its rate up.
        if slot is not None and has_stage:  # the root is the last item: slot is the interval it ended in
            slot.requests += 1
            if root[4] == _ERROR:
                slot.errors += 1
            slot.add_latency(duration_ms)
        if has_stage:
            self._keep((duration_ms, trace_id, root, spans, dropped, error))
        # A chatbot.feedback span (record_feedback's local root inside the rated trace, which carries its conversation
        # id) is no turn of its own.
        if conversation is not None and self._max_conversations and root[2] != _FEEDBACK:
            conv = self._conversation(str(conversation))
            if not conv.turns:
                self._who(conv, (root, tagged, call))
            ttft = model = None
            if call is not None:  # its generation call: the model and the time to first token (s)
                get = call[7].get
                ttft = get(_TTFT)
                if ttft is None:
                    ttft = get(_TTFC)
                model = get(_RESPONSE_MODEL) or get(_REQUEST_MODEL)
            conv.turns.append((trace_id, start_ns, duration_ms, ttft, model, inp, out, nusd, error))

    def _keep(self, kept: _Kept) -> None:
        self._recent.append(kept)  # maxlen=0 keeps nothing
        slowest = self._slowest
        if len(slowest) < self._max_slowest:
            heapq.heappush(slowest, (kept[0], next(self._seq), kept))
        elif slowest and kept[0] > slowest[0][0]:
            heapq.heapreplace(slowest, (kept[0], next(self._seq), kept))

    @staticmethod
    def _who(conv: _Conversation, sources: Iterable[Item | None]) -> None:
        """Who is talking, as the conversation's first turn says: its request, the span that named the conversation or
        its generation call."""
        for source in sources:
            if source is None:
                continue
            get = source[7].get
            if conv.user is None and (user := get(_USER_ID)) is not None:
                conv.user = str(user)
            if conv.tenant is None and (tenant := get(_TENANT_ID)) is not None:
                conv.tenant = str(tenant)
            if conv.variant is None and (variant := get(_VARIANT)) is not None:
                conv.variant = str(variant)

    def _conversation(self, conversation_id: str) -> _Conversation:
        conversations = self._conversations
        conv = conversations.get(conversation_id)
        if conv is None:
            conv = conversations[conversation_id] = _Conversation(self._max_turns)
            if len(conversations) > self._max_conversations:
                conversations.popitem(last=False)
        else:
            conversations.move_to_end(conversation_id)
        return conv

    # --- snapshot ---------------------------------------------------------------------------------------------------

    def traces(self) -> tuple[TraceRecord, ...]:
        """The kept recent and slowest traces, most recent first."""
        reasons: dict[tuple[int, int], list[str]] = {}
        kept: dict[tuple[int, int], _Kept] = {}
        for _, _, k in sorted(self._slowest, key=lambda e: (-e[0], e[1])):
            key = (k[1], k[2][9])
            kept[key] = k
            reasons.setdefault(key, []).append("slowest")
        for k in self._recent:
            key = (k[1], k[2][9])
            kept[key] = k
            reasons.setdefault(key, []).append("recent")
        records = {key: self._records.get(key) or _trace_record(k) for key, k in kept.items()}
        self._records = records
        ordered = sorted(records.items(), key=lambda kv: -kv[1].start)
        return tuple(dataclasses.replace(rec, reasons=tuple(reasons[key])) for key, rec in ordered)

    def conversations(self) -> tuple[ConversationRecord, ...]:
        """The kept conversations, most recent first, each with its turns oldest first."""
        return tuple(
            ConversationRecord(
                conversation_id=cid,
                user_id=conv.user,
                tenant_id=conv.tenant,
                variant=conv.variant,
                turns=tuple(sorted((_turn_record(t) for t in conv.turns), key=lambda t: t.start)),
            )
            for cid, conv in reversed(self._conversations.items())
        )


def _turn_record(turn: _Turn) -> TurnRecord:
    trace_id, start_ns, latency_ms, ttft, model, inp, out, nusd, error = turn
    return TurnRecord(
        trace_id=f"{trace_id:032x}",
        start=start_ns / _NANO,
        latency_ms=latency_ms,
        ttft_ms=None if ttft is None else float(ttft) * 1000.0,
        input_tokens=inp,
        output_tokens=out,
        cost_usd=nusd / _NANO,
        model=None if model is None else str(model),
        error=error,
    )


def _check(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _usage(get: Any) -> tuple[int, int, int] | None:
    """Tokens and nano-USD of a span counted as a call, as ``Aggregator.record_item`` counts them (else None)."""
    inp, out, cost = get(_INPUT_TOKENS), get(_OUTPUT_TOKENS), get(_COST)
    if inp is None and out is None and cost is None:
        return None
    if get(_USAGE_DEFERRED):
        return None
    if get(_STAGE) is None and get(_USAGE_STAGE) is None:
        return None
    return int(inp or 0), int(out or 0), 0 if cost is None else round(float(cost) * _NANO)


def _trace_record(kept: _Kept) -> TraceRecord:
    duration_ms, trace_id, root, spans, dropped, error = kept
    t0 = min(item[5] for item in spans)
    parents = {item[9]: item[10] for item in spans}

    def depth_of(span_id: int) -> int:
        depth, seen = 0, {span_id}
        parent = parents.get(span_id, 0)
        while parent in parents and parent not in seen:  # a parent outside the kept spans ends the chain
            seen.add(parent)
            depth += 1
            parent = parents[parent]
        return depth

    ordered = sorted(spans, key=lambda it: (it[5], depth_of(it[9])))
    return TraceRecord(
        trace_id=f"{trace_id:032x}",
        root_name=str(root[2]),
        start=root[5] / _NANO,
        duration_ms=duration_ms,
        error=error,
        reasons=(),
        spans=tuple(_span_record(item, t0) for item in ordered),
        dropped_spans=dropped,
    )


def _span_record(item: Item, t0: int) -> SpanRecord:
    _, _, name, kind, status, start, end, attributes, _, span_id, parent_id = item
    return SpanRecord(
        span_id=f"{span_id:016x}",
        parent_id=f"{parent_id:016x}" if parent_id else None,
        name=str(name),
        kind=str(kind),
        status=str(status),
        start_ms=(start - t0) / 1e6,
        duration_ms=max(end - start, 0) / 1e6,
        attributes=json_safe_attributes(attributes),
    )


def json_safe_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values as JSON can carry them: str (cut to ``MAX_ATTRIBUTE_CHARS``), int, finite float, bool, lists."""
    return {str(k): _json_safe(v) for k, v in attributes.items()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_ATTRIBUTE_CHARS else value[:MAX_ATTRIBUTE_CHARS] + "…"
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value[:_MAX_LIST_ITEMS]]
    return _json_safe(str(value))
