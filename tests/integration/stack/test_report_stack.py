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
from otel_chatbot.stack import RunningStack
from otel_chatbot.stats._snapshot import StatsSnapshot
from tests._http import eventually

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]
SERVICE = "rag-chatbot"
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
        return snap if snap.spans >= demo.spans and snap.streams and snap.usage.by_model else None

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
