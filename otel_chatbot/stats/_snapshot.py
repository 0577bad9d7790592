"""The immutable statistics snapshot that ``Telemetry.report()`` returns, and its JSON form.

Example::

    snap = tel.report()
    gen = snap.stage("generation")
    print(gen.latency.p95_ms, gen.share)
    tel.dump("stats.json")  # the same snapshot as JSON; ``StatsSnapshot.load("stats.json")`` reads it back
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from otel_chatbot._values import json_safe

__all__ = [
    "CacheStats",
    "CounterSeries",
    "FeedbackStats",
    "ConversationRecord",
    "HistogramSeries",
    "HistoryPoint",
    "LatencyStats",
    "ModelLatency",
    "SpanRecord",
    "StageStats",
    "StatsSnapshot",
    "StreamStats",
    "TraceRecord",
    "TurnRecord",
    "UsageBreakdown",
    "UsageStats",
    "VariantStats",
]

SNAPSHOT_FORMAT = "otel-chatbot-snapshot/1"
"""Written into every dump so readers can tell our files from other JSON."""

OTHER = "other"
"""The key that collects everything beyond a bounded top-N."""


@dataclass(frozen=True)
class LatencyStats:
    """Latency of a group of spans, in milliseconds; percentiles from a DDSketch (≤ 1% relative error)."""

    count: int
    errors: int
    mean_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    slowest_trace_ids: tuple[str, ...] = ()

    @property
    def error_rate(self) -> float:
        """Errors ÷ count (0 when empty)."""
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class ModelLatency:
    """Latency of one (stage, model) pair."""

    model: str
    latency: LatencyStats


@dataclass(frozen=True)
class CacheStats:
    """Cache lookups of a stage that sets ``chatbot.cache.hit``; savings are estimated from generation calls."""

    stage: str
    lookups: int
    hits: int
    saved_tokens: int
    saved_usd: float

    @property
    def hit_rate(self) -> float:
        """Hits ÷ lookups (0 when there were none)."""
        return self.hits / self.lookups if self.lookups else 0.0


@dataclass(frozen=True)
class StageStats:
    """Everything known about one stage."""

    stage: str
    latency: LatencyStats
    share: float | None
    """Time in this stage ÷ time of the requests (root spans) containing stages; None before any request ended.
    The top-level stages' shares add up to at most 1 (stages overlapping within a request are scaled down to its
    time); a nested stage's share is part of its parent's."""
    error_types: tuple[tuple[str, int], ...] = ()
    models: tuple[ModelLatency, ...] = ()
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    parent: str | None = None
    """The stage whose spans enclose this stage's spans (the most frequent one); None: directly under the request."""
    start_offset_ms: float | None = None
    """Mean offset of the stage's first span in a request from the request's (root span's) start; None if unknown."""


@dataclass(frozen=True)
class StreamStats:
    """Streaming calls of one (stage, model): time to first token, time to first chunk and output speed.

    ``ttft_*`` is the time to the first visible text token (``chatbot.response.time_to_first_token``, what a chat
    user waits for; the first chunk when a span has no such attribute); ``ttfc_*`` the time to the first generated
    chunk of any kind (``gen_ai.response.time_to_first_chunk``: reasoning and tool-call deltas count). They differ
    when a model reasons or calls tools before it writes.
    """

    stage: str
    model: str
    count: int
    ttft_p50_ms: float
    ttft_p95_ms: float
    ttft_p99_ms: float
    output_tokens_per_s: float | None
    ttfc_p50_ms: float = 0.0
    ttfc_p95_ms: float = 0.0
    ttfc_p99_ms: float = 0.0


@dataclass(frozen=True)
class UsageStats:
    """Tokens and USD of one key (a model, provider, stage, tenant, variant, user or conversation)."""

    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float
    unpriced_calls: int = 0


@dataclass(frozen=True)
class UsageBreakdown:
    """Usage per dimension, each sorted by cost then tokens (descending); users and conversations are top-N + other."""

    by_model: tuple[UsageStats, ...] = ()
    by_provider: tuple[UsageStats, ...] = ()
    by_stage: tuple[UsageStats, ...] = ()
    by_tenant: tuple[UsageStats, ...] = ()
    by_variant: tuple[UsageStats, ...] = ()
    by_user: tuple[UsageStats, ...] = ()
    by_conversation: tuple[UsageStats, ...] = ()

    @property
    def total_cost_usd(self) -> float:
        """USD over every stage."""
        return sum(u.cost_usd for u in self.by_stage)


@dataclass(frozen=True)
class FeedbackStats:
    """The satisfaction distribution of one variant (``""`` when no variant is known)."""

    variant: str
    count: int
    mean: float
    min: float
    max: float
    distribution: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True)
class VariantStats:
    """One A/B variant side by side with the others."""

    variant: str
    requests: LatencyStats | None
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    feedback: FeedbackStats | None = None


@dataclass(frozen=True)
class HistogramSeries:
    """One Prometheus histogram series; ``bucket_counts`` are per bucket (not cumulative), the last one is +Inf."""

    name: str
    labels: tuple[tuple[str, str], ...]
    bounds: tuple[float, ...]
    bucket_counts: tuple[int, ...]
    sum: float
    count: int


@dataclass(frozen=True)
class CounterSeries:
    """One Prometheus counter series."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True)
class HistoryPoint:
    """One interval of the bounded in-process history (``StatsSnapshot.history``, oldest first).

    ``requests`` and ``errors`` count the root spans that ended in the interval whose trace ran a stage (as
    ``StatsSnapshot.requests`` does); the percentiles are their latency (None when none ended); usage is that of the
    calls (stage spans) that ended in it; ``spans`` counts every span.
    """

    start: float
    """Epoch seconds at which the interval starts."""
    interval_s: float
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    spans: int


@dataclass(frozen=True)
class SpanRecord:
    """One span of a kept trace (``TraceRecord.spans``)."""

    span_id: str
    """16 lowercase hex characters."""
    parent_id: str | None
    name: str
    kind: str
    """``"SPAN_KIND_SERVER"``, ``"SPAN_KIND_INTERNAL"``..."""
    status: str
    """``"STATUS_CODE_UNSET"``, ``"STATUS_CODE_OK"`` or ``"STATUS_CODE_ERROR"``."""
    start_ms: float
    """Offset of this span's start from the start of the trace's first span."""
    duration_ms: float
    attributes: dict[str, Any] = field(default_factory=dict)
    """JSON-safe values (str, int, float, bool or lists of them); long strings truncated."""


@dataclass(frozen=True)
class TraceRecord:
    """A kept trace: one of the most recent or the slowest (by root duration) requests that ran a stage."""

    trace_id: str
    """32 lowercase hex characters, as Jaeger shows it."""
    root_name: str
    start: float
    """Epoch seconds at which the root span started."""
    duration_ms: float
    error: bool
    reasons: tuple[str, ...]
    """A subset of ``("slowest", "recent")``."""
    spans: tuple[SpanRecord, ...]
    """By start time, a parent before its children on ties."""
    dropped_spans: int = 0


@dataclass(frozen=True)
class TurnRecord:
    """One request of a conversation; tokens and USD are its stage spans' usage, counted once."""

    trace_id: str
    start: float
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    model: str | None
    error: bool


@dataclass(frozen=True)
class ConversationRecord:
    """One of the most recent conversations (``gen_ai.conversation.id``), its turns oldest first."""

    conversation_id: str
    user_id: str | None
    tenant_id: str | None
    variant: str | None
    turns: tuple[TurnRecord, ...]


@dataclass(frozen=True)
class StatsSnapshot:
    """An immutable view of the embedded statistics at one moment (``Telemetry.report()``)."""

    service_name: str
    generated_at: float
    spans: int = 0
    requests: LatencyStats | None = None
    stages: tuple[StageStats, ...] = ()
    """In request order: the tree of stages (``StageStats.parent``) flattened depth-first, siblings by start offset."""
    streams: tuple[StreamStats, ...] = ()
    usage: UsageBreakdown = field(default_factory=UsageBreakdown)
    caches: tuple[CacheStats, ...] = ()
    variants: tuple[VariantStats, ...] = ()
    feedback: tuple[FeedbackStats, ...] = ()
    histograms: tuple[HistogramSeries, ...] = ()
    counters: tuple[CounterSeries, ...] = ()
    source: str = "embedded"
    history: tuple[HistoryPoint, ...] = ()
    """The bounded in-process history, oldest first (default 10 s intervals x 360 points = 1 h)."""
    traces: tuple[TraceRecord, ...] = ()
    """The kept most recent and slowest traces."""
    conversations: tuple[ConversationRecord, ...] = ()
    """The most recent conversations, most recent first."""

    def stage(self, name: str) -> StageStats | None:
        """The stage called ``name``, if any span of it ended."""
        return next((s for s in self.stages if s.stage == name), None)

    def latency_json(self) -> dict[str, dict[str, float | int | None]]:
        """The ``GET /metrics/latency`` document: ``{stage: {count, mean_ms, p50_ms, p95_ms, p99_ms, share}}`` (valid
        UTF-8, finite numbers or null)."""
        document: dict[str, dict[str, float | int | None]] = {
            s.stage: {
                "count": s.latency.count,
                "mean_ms": s.latency.mean_ms,
                "p50_ms": s.latency.p50_ms,
                "p95_ms": s.latency.p95_ms,
                "p99_ms": s.latency.p99_ms,
                "share": s.share,
            }
            for s in self.stages
        }
        return json_safe(document)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_dict`` reads it back): strings valid UTF-8, numbers finite or null."""
        out: dict[str, Any] = {"format": SNAPSHOT_FORMAT}
        out.update(dataclasses.asdict(self))
        return json_safe(out)  # type: ignore[no-any-return]

    def to_json(self, *, indent: int | None = 2) -> str:
        """The snapshot as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatsSnapshot:
        """Rebuild a snapshot from ``to_dict()`` output.

        Raises:
            ValueError: ``data`` is not a snapshot.
        """
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not an otel-chatbot snapshot (format {data.get('format')!r})")
        return _build(cls, data)

    @classmethod
    def load(cls, path: str | Path) -> StatsSnapshot:
        """Read a file written by ``Telemetry.dump(path)``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def dump(self, path: str | Path) -> None:
        """Write the snapshot as JSON to ``path`` (atomically: a temporary file renamed over it)."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(target)


_T = TypeVar("_T")


def _build(cls: type[_T], data: Mapping[str, Any]) -> _T:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _convert(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}  # type: ignore[arg-type]
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(members[0], value)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(args, value, strict=True))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value)
    if hint is float:
        return float(value)
    return value
