"""Ranked, evidence-backed recommendations from a ``StatsSnapshot`` (pure functions).

Example::

    from otel_chatbot.report import Thresholds, recommend

    for rec in recommend(tel.report(), Thresholds(ttft_p95_ms=500)):
        print(rec.title, rec.evidence, rec.trace_ids)

Each rule has a threshold (``Thresholds``); each recommendation carries the numbers that triggered it and up to
three of the slowest trace ids, so the reader can open the traces in Jaeger. Recommendations are ranked by
``impact``: the estimated fraction of request time (latency rules) or of spend (cost rules) at stake, 0..1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from otel_chatbot import semconv
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend._money import format_usd
from otel_chatbot.stats._snapshot import StageStats, StatsSnapshot

__all__ = ["Recommendation", "Thresholds", "recommend"]

_GENERATION = semconv.Stage.GENERATION.value


@dataclass(frozen=True)
class Thresholds:
    """When a rule fires. Every field can be set from the CLI: ``--threshold ttft_p95_ms=500``."""

    generation_share: float = 0.60
    """Generation's share of request time above which to act on generation."""
    tail_ratio: float = 2.0
    """p99 ÷ p95 above which a stage has outliers."""
    tail_min_ms: float = 50.0
    """p99 − p95 (ms) below which a tail is too small to matter (a 0.1 ms stage with a 0.3 ms p99 is no problem)."""
    ttft_p95_ms: float = 800.0
    """Time-to-first-token p95 above which streams feel slow."""
    min_tokens_per_s: float = 10.0
    """Output speed below which streams feel slow."""
    cache_hit_rate: float = 0.20
    """Cache hit rate below which the cache is not earning its keep."""
    model_cost_share: float = 0.80
    """Share of spend on one model above which routing cheaper traffic elsewhere pays."""
    error_rate: float = 0.02
    """Error rate above which a stage needs retries, fallbacks or a fix."""
    regression: float = 0.20
    """Relative increase of a stage's p95 or cost per request over the baseline that counts as a regression."""
    min_count: int = 20
    """Groups with fewer spans are too noisy to judge (they are skipped)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 0:
                raise ConfigurationError(f"threshold {f.name} must be >= 0, not {getattr(self, f.name)}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, str | float]) -> Thresholds:
        """Thresholds with some fields replaced, e.g. from ``--threshold name=value`` options.

        Raises:
            ConfigurationError: An unknown name or a value that is not a non-negative number.
        """
        names = {f.name: f for f in dataclasses.fields(cls)}
        updates: dict[str, float | int] = {}
        for key, raw in values.items():
            if key not in names:
                raise ConfigurationError(f"unknown threshold {key!r}; known: {', '.join(sorted(names))}")
            try:
                updates[key] = int(raw) if names[key].type in ("int", int) else float(raw)
            except ValueError:
                raise ConfigurationError(f"threshold {key} needs a number, not {raw!r}") from None
        return cls(**updates)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Recommendation:
    """One thing to fix, with why."""

    rule: str
    title: str
    detail: str
    impact: float
    stage: str | None = None
    evidence: tuple[tuple[str, str], ...] = ()
    trace_ids: tuple[str, ...] = ()


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.2f} ms"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _per_request(snapshot: StatsSnapshot, usd: float) -> float:
    requests = snapshot.requests.count if snapshot.requests else 0
    return usd / requests if requests else 0.0


def _generation(snapshot: StatsSnapshot, t: Thresholds) -> list[Recommendation]:
    gen = snapshot.stage(_GENERATION)
    if gen is None or gen.share is None or gen.share <= t.generation_share or gen.latency.count < t.min_count:
        return []
    calls = gen.latency.count
    # Advise streaming only when the source would show streams: a snapshot of every span (embedded, a dump, Jaeger)
    # has span histograms; /metrics/latency and Prometheus without stream metrics say nothing either way.
    streams_known = bool(snapshot.streams or snapshot.histograms)
    streamed = any(s.stage == _GENERATION for s in snapshot.streams)
    advice = [] if streamed or not streams_known else ["stream the response so users see the first tokens early"]
    advice += [
        "try a faster or smaller model for simple turns",
        "shorten the prompt (fewer retrieved chunks, summarised history)",
        "cap max_tokens",
    ]
    return [
        Recommendation(
            rule="generation_share",
            title=f"Generation is {_pct(gen.share)} of request time",
            detail="; ".join(advice) + ".",
            impact=gen.share,
            stage=_GENERATION,
            evidence=(
                ("share", _pct(gen.share)),
                ("p95", _ms(gen.latency.p95_ms)),
                ("input tokens/call", f"{gen.input_tokens / calls:,.0f}"),
                ("output tokens/call", f"{gen.output_tokens / calls:,.0f}"),
            ),
            trace_ids=gen.latency.slowest_trace_ids,
        )
    ]


def _outliers(stage: StageStats, t: Thresholds) -> list[Recommendation]:
    lat = stage.latency
    if lat.count < t.min_count or lat.p95_ms <= 0 or lat.p99_ms <= t.tail_ratio * lat.p95_ms:
        return []
    if lat.p99_ms - lat.p95_ms < t.tail_min_ms:
        return []
    ratio = lat.p99_ms / lat.p95_ms
    return [
        Recommendation(
            rule="outliers",
            title=f"{stage.stage}: p99 is {ratio:.1f}× p95 (outliers)",
            detail="a slow tail: look at the slowest traces for timeouts, retries, cold caches or oversized inputs; "
            "add a timeout with a fallback.",
            impact=min(1.0, (stage.share or 0.1) * (ratio - 1) / 4),
            stage=stage.stage,
            evidence=(("p95", _ms(lat.p95_ms)), ("p99", _ms(lat.p99_ms)), ("max", _ms(lat.max_ms))),
            trace_ids=lat.slowest_trace_ids,
        )
    ]


def _errors(stage: StageStats, t: Thresholds) -> list[Recommendation]:
    lat = stage.latency
    if lat.count < t.min_count or lat.error_rate <= t.error_rate:
        return []
    types = ", ".join(f"{name} ×{n}" for name, n in stage.error_types[:3])
    return [
        Recommendation(
            rule="error_rate",
            title=f"{stage.stage}: {_pct(lat.error_rate)} of calls fail",
            detail="add retries with backoff for transient errors (rate limits, timeouts) and a fallback; "
            "fix the rest.",
            impact=min(1.0, lat.error_rate * 5),
            stage=stage.stage,
            evidence=(
                ("error rate", _pct(lat.error_rate)),
                ("errors", f"{lat.errors} of {lat.count}"),
                ("types", types or "unknown"),
            ),
            trace_ids=lat.slowest_trace_ids,
        )
    ]


def _streams(snapshot: StatsSnapshot, t: Thresholds) -> list[Recommendation]:
    out = []
    request_ms = snapshot.requests.mean_ms if snapshot.requests else 0.0
    for s in snapshot.streams:
        if s.count < t.min_count:
            continue
        stage = snapshot.stage(s.stage)
        ids = stage.latency.slowest_trace_ids if stage else ()
        if s.ttft_p95_ms > t.ttft_p95_ms:
            out.append(
                Recommendation(
                    rule="ttft",
                    title=f"{s.model or s.stage}: time to first token p95 is {_ms(s.ttft_p95_ms)}",
                    detail="shorten the prompt, use prompt caching for the fixed prefix, or a faster model/region.",
                    impact=min(1.0, s.ttft_p95_ms / request_ms) if request_ms else 0.5,
                    stage=s.stage,
                    evidence=(
                        ("TTFT p50", _ms(s.ttft_p50_ms)),
                        ("TTFT p95", _ms(s.ttft_p95_ms)),
                        ("threshold", _ms(t.ttft_p95_ms)),
                    ),
                    trace_ids=ids,
                )
            )
        if s.output_tokens_per_s is not None and s.output_tokens_per_s < t.min_tokens_per_s:
            out.append(
                Recommendation(
                    rule="tokens_per_s",
                    title=f"{s.model or s.stage}: output is {s.output_tokens_per_s:.1f} tokens/s",
                    detail="the model streams slowly: try a faster model or provider tier, or shorter answers.",
                    impact=min(1.0, (stage.share or 0.2) if stage else 0.2) * 0.5,
                    stage=s.stage,
                    evidence=(("tokens/s", f"{s.output_tokens_per_s:.1f}"), ("threshold", f"{t.min_tokens_per_s:g}")),
                    trace_ids=ids,
                )
            )
    return out


def _caches(snapshot: StatsSnapshot, t: Thresholds) -> list[Recommendation]:
    out = []
    for c in snapshot.caches:
        if c.lookups < t.min_count or c.hit_rate >= t.cache_hit_rate:
            continue
        stage = snapshot.stage(c.stage)
        out.append(
            Recommendation(
                rule="cache_hit_rate",
                title=f"{c.stage}: cache hit rate is {_pct(c.hit_rate)}",
                detail="if users repeat questions, normalise queries before the lookup or use a semantic cache with a "
                "similarity threshold; otherwise drop the lookup and save its latency.",
                impact=(t.cache_hit_rate - c.hit_rate) * 0.5,
                stage=c.stage,
                evidence=(
                    ("hits", f"{c.hits} of {c.lookups}"),
                    ("saved so far", format_usd(c.saved_usd)),
                    ("threshold", _pct(t.cache_hit_rate)),
                ),
                trace_ids=stage.latency.slowest_trace_ids if stage else (),
            )
        )
    return out


def _model_cost(snapshot: StatsSnapshot, t: Thresholds) -> list[Recommendation]:
    total = sum(u.cost_usd for u in snapshot.usage.by_model)
    if total <= 0 or len(snapshot.usage.by_model) == 0:
        return []
    top = snapshot.usage.by_model[0]
    share = top.cost_usd / total
    if share <= t.model_cost_share or top.calls < t.min_count:
        return []
    gen = snapshot.stage(_GENERATION)
    return [
        Recommendation(
            rule="model_cost_share",
            title=f"{top.key} is {_pct(share)} of spend",
            detail="route simple turns to a cheaper model, cache frequent answers, trim prompts.",
            impact=share * 0.5,
            stage=_GENERATION if gen else None,
            evidence=(
                ("model USD", format_usd(top.cost_usd)),
                ("total USD", format_usd(total)),
                ("USD/request", f"${_per_request(snapshot, total):.5f}"),
            ),
            trace_ids=gen.latency.slowest_trace_ids if gen else (),
        )
    ]


def _regressions(snapshot: StatsSnapshot, baseline: StatsSnapshot, t: Thresholds) -> list[Recommendation]:
    out = []
    for stage in snapshot.stages:
        old = baseline.stage(stage.stage)
        if old is None or stage.latency.count < t.min_count:
            continue
        if old.latency.p95_ms > 0 and stage.latency.p95_ms > old.latency.p95_ms * (1 + t.regression):
            rise = stage.latency.p95_ms / old.latency.p95_ms - 1
            out.append(
                Recommendation(
                    rule="latency_regression",
                    title=f"{stage.stage}: p95 regressed {_pct(rise)} against the baseline",
                    detail="compare the slowest traces with the baseline's: a new model, prompt or dependency?",
                    impact=min(1.0, (stage.share or 0.2) * rise),
                    stage=stage.stage,
                    evidence=(("p95 now", _ms(stage.latency.p95_ms)), ("p95 baseline", _ms(old.latency.p95_ms))),
                    trace_ids=stage.latency.slowest_trace_ids,
                )
            )
        now_cost, old_cost = _per_request(snapshot, stage.cost_usd), _per_request(baseline, old.cost_usd)
        if old_cost > 0 and now_cost > old_cost * (1 + t.regression):
            rise = now_cost / old_cost - 1
            out.append(
                Recommendation(
                    rule="cost_regression",
                    title=f"{stage.stage}: cost per request rose {_pct(rise)} against the baseline",
                    detail="check prompt length, retrieved context size, model choice and retries.",
                    impact=min(1.0, rise * 0.5),
                    stage=stage.stage,
                    evidence=(("USD/request now", f"${now_cost:.5f}"), ("USD/request baseline", f"${old_cost:.5f}")),
                    trace_ids=stage.latency.slowest_trace_ids,
                )
            )
    return out


def recommend(
    snapshot: StatsSnapshot, thresholds: Thresholds | None = None, *, baseline: StatsSnapshot | None = None
) -> tuple[Recommendation, ...]:
    """Every rule that fires on ``snapshot``, ranked by estimated impact (highest first).

    Args:
        snapshot: The statistics to judge.
        thresholds: When rules fire (defaults: ``Thresholds()``).
        baseline: An earlier snapshot; enables the regression rules.

    Returns:
        The recommendations, highest impact first.
    """
    t = thresholds or Thresholds()
    recs = _generation(snapshot, t) + _streams(snapshot, t) + _caches(snapshot, t) + _model_cost(snapshot, t)
    for stage in snapshot.stages:
        recs += _outliers(stage, t) + _errors(stage, t)
    if baseline is not None:
        recs += _regressions(snapshot, baseline, t)
    return tuple(sorted(recs, key=lambda r: (-r.impact, r.rule, r.stage or "")))
