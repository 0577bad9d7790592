"""``otel-chatbot report --prometheus`` and the web view's stack source against the real stack and the example app.

The demo (``./scripts/demo --stack``: the example RAG chatbot, a local streaming LLM server, the load generator) sends
real traffic to the session's Collector; its own embedded statistics are kept as a dump, the reference the stack's
numbers are checked against.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from otel_chatbot.cli._main import main
from otel_chatbot.report._sources import load_prometheus, load_stack
from otel_chatbot.stack import RunningStack
from otel_chatbot.stats._snapshot import StatsSnapshot
from tests._http import eventually

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]
SERVICE = "rag-chatbot-report-test"
"""Its own service name: other tests send the example's traffic to the same stack as ``rag-chatbot``."""
TURNS = 12


@pytest.fixture(scope="module")
def demo(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> StatsSnapshot:
    """Run the demo against the stack; its app's embedded statistics (the dump it keeps)."""
    keep = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        **stack.environ(),
        "OTEL_CHATBOT_STACK_RUN_DIR": str(stack.run_dir),
        "CHATBOT_DEMO_DIR": str(keep),
        "OTEL_SERVICE_NAME": SERVICE,
    }
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--stack", "--turns", str(TURNS), "--concurrency", "2", "--fast"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return StatsSnapshot.load(keep / "stats.json")


def _tokens(snapshot: StatsSnapshot) -> list[tuple[str, int, int]]:
    return [(u.key, u.input_tokens, u.output_tokens) for u in snapshot.usage.by_model]


def report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", *argv, "--format", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_report_from_prometheus_has_tokens_spans_requests_and_streams(
    stack: RunningStack, demo: StatsSnapshot, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--prometheus", stack.prometheus_url, "--service", SERVICE]

    def complete() -> StatsSnapshot | None:  # metrics arrive asynchronously (export and scrape intervals)
        snap = StatsSnapshot.from_dict(report(args, capsys)["snapshot"])
        # all of it: an earlier scrape can hold a partial export of the counters
        counted = [(s.stage, s.count) for s in snap.streams] == [(s.stage, s.count) for s in demo.streams]
        return snap if snap.spans >= demo.spans and counted and _tokens(snap) == _tokens(demo) else None

    found = eventually(complete, timeout=120)
    assert found is not None, report(args, capsys)["snapshot"]
    # Every span the app made is a span-metrics call (nothing sampled out), counted once.
    assert found.spans == demo.spans
    assert found.requests is not None and found.requests.count >= demo.requests.count  # type: ignore[union-attr]
    # Tokens and USD per model and per stage: the SDK counters, exactly what the app counted itself.
    for got, want in ((found.usage.by_model, demo.usage.by_model), (found.usage.by_stage, demo.usage.by_stage)):
        assert [(u.key, u.input_tokens, u.output_tokens) for u in got] == [
            (u.key, u.input_tokens, u.output_tokens) for u in want
        ]
        assert [u.cost_usd for u in got] == pytest.approx([u.cost_usd for u in want])
    gen, want_gen = found.stage("generation"), demo.stage("generation")
    assert gen is not None and want_gen is not None
    assert (gen.input_tokens, gen.output_tokens) == (want_gen.input_tokens, want_gen.output_tokens) != (0, 0)
    assert gen.cost_usd == pytest.approx(want_gen.cost_usd) and gen.cost_usd > 0
    # Streams: the TTFT histograms (every stream) against the app's own sketch, within a histogram bucket.
    (stream,) = found.streams
    (want_stream,) = demo.streams
    assert (stream.stage, stream.model, stream.count) == (want_stream.stage, want_stream.model, want_stream.count)
    assert 0 < stream.ttft_p50_ms <= 2 * want_stream.ttft_p50_ms + 20
    assert stream.output_tokens_per_s is not None and stream.output_tokens_per_s > 0

    capsys.readouterr()
    assert main(["report", *args, "--threshold", "min_count=1"]) == 0
    text = capsys.readouterr().out
    assert f"{found.spans:,} spans, {found.requests.count:,} requests" in text
    assert "Streaming" in text and "stream the response" not in text
    assert "Generation is" in text  # the rule that used to advise streaming to a streaming app


def test_stack_source_fills_history_traces_and_conversations(stack: RunningStack, demo: StatsSnapshot) -> None:
    assert demo.requests is not None

    def complete() -> StatsSnapshot | None:  # Jaeger and Prometheus receive the data asynchronously
        snap = load_stack(stack.jaeger_url, stack.prometheus_url, SERVICE, since_s=900)
        ready = snap.requests and snap.requests.count == demo.requests.count  # type: ignore[union-attr]
        # all of it: an earlier scrape can hold a partial export of the counters
        ready = ready and _tokens(snap) == _tokens(demo) and sum(p.spans for p in snap.history) == demo.spans
        return snap if ready and sum(p.cost_usd for p in snap.history) > 0 else None

    snap = eventually(complete, timeout=120)
    assert snap is not None
    # Stages with their nesting and order, as the app itself saw them (same spans, same aggregator).
    assert [(s.stage, s.parent) for s in snap.stages] == [(s.stage, s.parent) for s in demo.stages]
    assert ("retrieval", "request_preparation") in [(s.stage, s.parent) for s in snap.stages]
    assert sum(s.share or 0 for s in snap.stages if s.parent is None) <= 1.0
    # Usage from the SDK counters: what the app counted.
    assert [(u.key, u.input_tokens, u.output_tokens) for u in snap.usage.by_model] == [
        (u.key, u.input_tokens, u.output_tokens) for u in demo.usage.by_model
    ]
    # History: query_range points, oldest first, with the traffic in them.
    starts = [p.start for p in snap.history]
    assert starts == sorted(starts) and len(starts) <= 360
    # The whole run is inside the range: the intervals add up to the counters' totals (a series that appeared
    # inside the range counts from zero, which increase() would miss for a run this short).
    totals = load_prometheus(stack.prometheus_url, service=SERVICE)
    assert totals.requests is not None
    assert sum(p.requests for p in snap.history) == totals.requests.count
    assert sum(p.spans for p in snap.history) == totals.spans == demo.spans
    assert sum(p.input_tokens for p in snap.history) == sum(u.input_tokens for u in demo.usage.by_model) > 0
    assert sum(p.output_tokens for p in snap.history) == sum(u.output_tokens for u in demo.usage.by_model)
    assert sum(p.cost_usd for p in snap.history) == pytest.approx(demo.usage.total_cost_usd)
    assert any(p.p95_ms for p in snap.history)
    # Traces: the slowest request of the app is there, its spans in start order, its stage spans nested.
    by_id = {t.trace_id: t for t in snap.traces}
    slowest = by_id[demo.requests.slowest_trace_ids[0]]
    assert "slowest" in slowest.reasons and slowest.root_name == "POST /chat"
    assert [s.start_ms for s in slowest.spans] == sorted(s.start_ms for s in slowest.spans)
    assert slowest.spans[0].parent_id is None and slowest.spans[0].kind == "SPAN_KIND_SERVER"
    stages = [s.attributes.get("chatbot.stage") for s in slowest.spans]
    assert {"request_parsing", "auth_validation", "request_preparation"} <= set(stages)
    assert any("recent" in t.reasons for t in snap.traces)
    # Conversations: every turn once, with the tokens and USD the app counted per conversation.
    assert sum(len(c.turns) for c in snap.conversations) == demo.requests.count
    want = {u.key: (u.input_tokens, u.output_tokens) for u in demo.usage.by_conversation}
    got = {
        c.conversation_id: (sum(t.input_tokens for t in c.turns), sum(t.output_tokens for t in c.turns))
        for c in snap.conversations
    }
    assert {k: v for k, v in got.items() if v != (0, 0)} == want
    turns = [t for c in snap.conversations for t in c.turns]
    assert all(len(t.trace_id) == 32 and t.latency_ms > 0 for t in turns)
    assert any(t.ttft_ms for t in turns) and any(t.model == "gpt-4o-mini" for t in turns)
