"""Render a ``StatsSnapshot`` and its recommendations as a text table, Markdown or JSON (pure: returns ``str``).

Example::

    from otel_chatbot.report import render

    print(render(tel.report()))  # the bottleneck report, as ``otel-chatbot report`` prints it
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from otel_chatbot.report._recommendations import Recommendation, Thresholds, recommend
from otel_chatbot.spend._money import format_usd
from otel_chatbot.stats._snapshot import LatencyStats, StageStats, StatsSnapshot, UsageStats

__all__ = ["Format", "render", "report_dict"]

Format = Literal["table", "json", "markdown"]

_TOP_ROWS = 10


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _usd(value: float) -> str:
    return format_usd(value)


class _Doc:
    """Sections of rows, rendered as aligned text or Markdown."""

    def __init__(self, markdown: bool) -> None:
        self.markdown = markdown
        self.lines: list[str] = []

    def heading(self, text: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines.append(f"## {text}" if self.markdown else f"{text}\n{'=' * len(text)}")

    def text(self, text: str) -> None:
        self.lines.append(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if not rows:
            self.lines.append("(none)")
            return
        if self.markdown:
            self.lines.append("| " + " | ".join(header) + " |")
            self.lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
            self.lines.extend("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows)
            return
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
        fmt = [f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths)]
        self.lines.append("  ".join(f.format(h) for f, h in zip(fmt, header, strict=True)).rstrip())
        self.lines.append("  ".join("-" * w for w in widths))
        self.lines.extend("  ".join(f.format(c) for f, c in zip(fmt, row, strict=True)).rstrip() for row in rows)

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _latency_row(name: str, lat: LatencyStats, share: float | None = None) -> list[str]:
    return [
        name,
        f"{lat.count:,}",
        _pct(lat.error_rate),
        _ms(lat.mean_ms),
        _ms(lat.p50_ms),
        _ms(lat.p95_ms),
        _ms(lat.p99_ms),
        _pct(share),
    ]


def _usage_rows(usage: Sequence[UsageStats]) -> list[list[str]]:
    rows = []
    for u in usage[:_TOP_ROWS]:
        rows.append(
            [
                u.key,
                f"{u.calls:,}",
                f"{u.input_tokens:,}",
                f"{u.output_tokens:,}",
                _usd(u.cost_usd) + (" +unpriced" if u.unpriced_calls else ""),
            ]
        )
    if len(usage) > _TOP_ROWS:
        rest = usage[_TOP_ROWS:]
        rows.append(
            [
                f"({len(rest)} more)",
                f"{sum(u.calls for u in rest):,}",
                f"{sum(u.input_tokens for u in rest):,}",
                f"{sum(u.output_tokens for u in rest):,}",
                _usd(sum(u.cost_usd for u in rest)),
            ]
        )
    return rows


# --- report sections, in the order _render_text writes them ---------------------------------------------------------


def _summary(doc: _Doc, snapshot: StatsSnapshot) -> None:
    req = snapshot.requests
    doc.heading(f"otel-chatbot report: {snapshot.service_name} ({snapshot.source})")
    summary = f"{snapshot.spans:,} spans"
    if req is not None:
        summary += (
            f", {req.count:,} requests: p50 {_ms(req.p50_ms)} ms, p95 {_ms(req.p95_ms)} ms, p99 {_ms(req.p99_ms)} ms"
        )
    total = snapshot.usage.total_cost_usd
    if total:
        summary += f"; spend {_usd(total)}"
        if req is not None and req.count:
            summary += f" ({_usd(total / req.count)} per request)"
    doc.text(summary)


def stage_depths(stages: Sequence[StageStats]) -> list[int]:
    """Each stage's depth in the stage tree (0: directly under the request), for stages in snapshot order."""
    parents = {s.stage: s.parent for s in stages}
    depths = []
    for s in stages:
        depth, parent, seen = 0, s.parent, {s.stage}
        while parent is not None and parent in parents and parent not in seen:
            seen.add(parent)
            depth += 1
            parent = parents[parent]
        depths.append(depth)
    return depths


def _stage_latency(doc: _Doc, snapshot: StatsSnapshot) -> None:
    doc.heading("Latency per stage (ms)")
    header = ["stage", "count", "errors", "mean", "p50", "p95", "p99", "share"]
    rows = []
    # Request order; a nested stage is indented under its parent and its share, part of the parent's, is in brackets.
    indent = "\u00a0\u00a0" if doc.markdown else "  "
    for s, depth in zip(snapshot.stages, stage_depths(snapshot.stages), strict=True):
        row = _latency_row(indent * depth + s.stage, s.latency, s.share)
        if depth and s.share is not None:
            row[-1] = f"({row[-1]})"
        rows.append(row)
    doc.table(header, rows)
    top = [s.share for s in snapshot.stages if s.parent is None and s.share is not None]
    if doc.markdown:
        doc.text("")  # a line right under a Markdown table would be read as one more row
    if any(s.parent is not None for s in snapshot.stages):
        doc.text(f"Top-level stages: {_pct(sum(top))} of request time; (bracketed) shares are part of their parent's.")
    elif sum(top) > 1.0005:
        doc.text(
            f"Shares add up to {_pct(sum(top))}: this source does not say which stages run inside which, so a nested "
            "stage's time is also in its parent's."
        )
    models = [_latency_row(f"{s.stage} / {m.model}", m.latency) for s in snapshot.stages for m in s.models]
    if models:
        doc.heading("Latency per stage and model (ms)")
        doc.table(["stage / model", *header[1:-1]], [row[:-1] for row in models])


def _streaming(doc: _Doc, snapshot: StatsSnapshot) -> None:
    if not snapshot.streams:
        return
    doc.heading("Streaming")
    # Time to first chunk (reasoning and tool-call deltas count) is shown only when it differs from the time to the
    # first visible token somewhere: for plain text streams they are the same number.
    both = any(_differ(s.ttfc_p50_ms, s.ttft_p50_ms) or _differ(s.ttfc_p95_ms, s.ttft_p95_ms) for s in snapshot.streams)
    header = ["stage / model", "streams", "TTFT p50", "TTFT p95", "TTFT p99"]
    if both:
        header += ["first chunk p50", "first chunk p95"]
    rows = []
    for s in snapshot.streams:
        row = [f"{s.stage} / {s.model}", f"{s.count:,}", _ms(s.ttft_p50_ms), _ms(s.ttft_p95_ms), _ms(s.ttft_p99_ms)]
        if both:
            row += [_ms(s.ttfc_p50_ms), _ms(s.ttfc_p95_ms)]
        rows.append([*row, "-" if s.output_tokens_per_s is None else f"{s.output_tokens_per_s:,.1f}"])
    doc.table([*header, "tokens/s"], rows)


def _differ(first_chunk_ms: float, first_token_ms: float) -> bool:
    """Whether the two times differ by more than a rounding error (1 ms, or 2 %)."""
    return first_chunk_ms > 0 and abs(first_token_ms - first_chunk_ms) > max(1.0, 0.02 * first_token_ms)


def _errors(doc: _Doc, snapshot: StatsSnapshot) -> None:
    errors = [[s.stage, name, f"{n:,}"] for s in snapshot.stages for name, n in s.error_types]
    if errors:
        doc.heading("Errors")
        doc.table(["stage", "error.type", "count"], errors)


def _usage(doc: _Doc, snapshot: StatsSnapshot) -> None:
    usage = snapshot.usage
    for title, rows in (
        ("model", usage.by_model),
        ("provider", usage.by_provider),
        ("stage", usage.by_stage),
        ("tenant", usage.by_tenant),
        ("user (top)", usage.by_user),
        ("conversation (top)", usage.by_conversation),
    ):
        if rows:
            doc.heading(f"Usage per {title}")
            doc.table([title.split()[0], "calls", "input tokens", "output tokens", "USD"], _usage_rows(rows))


def _caches(doc: _Doc, snapshot: StatsSnapshot) -> None:
    if not snapshot.caches:
        return
    doc.heading("Caches")
    doc.table(
        ["stage", "lookups", "hits", "hit rate", "tokens saved", "USD saved"],
        [
            [c.stage, f"{c.lookups:,}", f"{c.hits:,}", _pct(c.hit_rate), f"{c.saved_tokens:,}", _usd(c.saved_usd)]
            for c in snapshot.caches
        ],
    )


def _prompt_cache(doc: _Doc, snapshot: StatsSnapshot) -> None:
    prompt_cached = [u for u in snapshot.usage.by_model if u.input_tokens]
    if not any(u.cache_read_tokens for u in prompt_cached):
        return
    doc.heading("Provider prompt cache")
    doc.table(
        ["model", "input tokens", "read from cache", "cached share"],
        [
            [u.key, f"{u.input_tokens:,}", f"{u.cache_read_tokens:,}", _pct(u.cache_read_tokens / u.input_tokens)]
            for u in prompt_cached
        ],
    )


def _variants(doc: _Doc, snapshot: StatsSnapshot) -> None:
    if not snapshot.variants:
        return
    doc.heading("Variants side by side")
    doc.table(
        [
            "variant",
            "requests",
            "p50 ms",
            "p95 ms",
            "stage spans",
            "errors",
            "in tokens",
            "out tokens",
            "USD",
            "USD/request",
            "feedback",
        ],
        [
            [
                v.variant,
                f"{v.requests.count:,}" if v.requests else "0",
                _ms(v.requests.p50_ms) if v.requests else "-",
                _ms(v.requests.p95_ms) if v.requests else "-",
                f"{v.calls:,}",
                _pct(v.errors / v.calls if v.calls else 0.0),
                f"{v.input_tokens:,}",
                f"{v.output_tokens:,}",
                _usd(v.cost_usd),
                _usd(v.cost_usd / v.requests.count) if v.requests and v.requests.count else "-",
                f"{v.feedback.mean:.2f} (n={v.feedback.count})" if v.feedback else "-",
            ]
            for v in snapshot.variants
        ],
    )


def _unassigned_feedback(doc: _Doc, snapshot: StatsSnapshot) -> None:
    unassigned = [f for f in snapshot.feedback if not f.variant]
    if unassigned:
        doc.text(f"Feedback without a variant: mean {unassigned[0].mean:.2f} (n={unassigned[0].count})")


def _against_baseline(doc: _Doc, snapshot: StatsSnapshot, baseline: StatsSnapshot) -> None:
    doc.heading(f"Against the baseline ({baseline.source}, {baseline.spans:,} spans)")
    diff: list[list[str]] = []
    for s in snapshot.stages:
        old = baseline.stage(s.stage)
        if old is None:
            continue
        change = (s.latency.p95_ms / old.latency.p95_ms - 1) if old.latency.p95_ms else None
        diff.append(
            [
                s.stage,
                _ms(old.latency.p95_ms),
                _ms(s.latency.p95_ms),
                "-" if change is None else f"{change * 100:+.1f}%",
                _usd(old.cost_usd),
                _usd(s.cost_usd),
            ]
        )
    doc.table(["stage", "p95 before", "p95 now", "change", "USD before", "USD now"], diff)


def _recommendations(doc: _Doc, recs: Sequence[Recommendation]) -> None:
    doc.heading("Recommendations (highest impact first)")
    if not recs:
        doc.text("Nothing crosses a threshold.")
    for i, rec in enumerate(recs, start=1):
        doc.text(f"{i}. {rec.title} — {rec.detail}")
        doc.text("   evidence: " + ", ".join(f"{k} {v}" for k, v in rec.evidence))
        if rec.trace_ids:
            doc.text("   slowest traces: " + ", ".join(rec.trace_ids))


def _render_text(
    snapshot: StatsSnapshot, recs: Sequence[Recommendation], baseline: StatsSnapshot | None, markdown: bool
) -> str:
    """The report's sections in order; each section writes nothing when the snapshot has no data for it."""
    doc = _Doc(markdown)
    _summary(doc, snapshot)
    _stage_latency(doc, snapshot)
    _streaming(doc, snapshot)
    _errors(doc, snapshot)
    _usage(doc, snapshot)
    _caches(doc, snapshot)
    _prompt_cache(doc, snapshot)
    _variants(doc, snapshot)
    _unassigned_feedback(doc, snapshot)
    if baseline is not None:
        _against_baseline(doc, snapshot, baseline)
    _recommendations(doc, recs)
    return doc.render()


def report_dict(snapshot: StatsSnapshot, recs: Sequence[Recommendation]) -> dict[str, Any]:
    """The JSON report: the snapshot (readable back as a baseline) plus the recommendations."""
    return {
        "snapshot": snapshot.to_dict(),
        "recommendations": [
            {
                "rule": r.rule,
                "title": r.title,
                "detail": r.detail,
                "impact": round(r.impact, 4),
                "stage": r.stage,
                "evidence": dict(r.evidence),
                "trace_ids": list(r.trace_ids),
            }
            for r in recs
        ],
    }


def render(
    snapshot: StatsSnapshot,
    fmt: Format = "table",
    *,
    thresholds: Thresholds | None = None,
    baseline: StatsSnapshot | None = None,
) -> str:
    """The bottleneck report.

    Args:
        snapshot: What to report on.
        fmt: ``"table"`` (aligned text), ``"markdown"`` or ``"json"``.
        thresholds: When recommendations fire.
        baseline: An earlier snapshot to compare with (regressions and a before/after table).

    Returns:
        The report text.
    """
    recs = recommend(snapshot, thresholds, baseline=baseline)
    if fmt == "json":
        return json.dumps(report_dict(snapshot, recs), indent=2) + "\n"
    if fmt not in ("table", "markdown"):
        raise ValueError(f"unknown report format {fmt!r}")
    return _render_text(snapshot, recs, baseline, markdown=fmt == "markdown")
