"""benchmarks/bench_peers.py cannot rot: every row that exists in .venv (ref and ours; the peers' rows run only in
.venv-bench, under ./scripts/bench) traces exactly one span per call with the attributes its label promises."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from benchmarks import bench_peers
from otel_chatbot import semconv

OURS = [name for name in bench_peers.ORDER if name not in bench_peers.PEERS]
CALLS = 3


def _usage(span: Any) -> tuple[Any, Any]:
    attrs = span.attributes
    return attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS), attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)


def test_every_row_without_peers_traces_one_span_per_call() -> None:
    exporter = InMemorySpanExporter()
    bench = bench_peers.setup(OURS, peers=False, exporter=lambda: exporter, batch=False)
    try:
        assert list(bench.rows) == OURS
        for name, row in bench.rows.items():
            exporter.clear()
            bench_peers.run_row(bench, row, CALLS)
            spans = exporter.get_finished_spans()
            assert len(spans) == CALLS, name
            for span in spans:
                assert span.name == "chat gpt-4o-mini", name
                attrs: dict[str, Any] = dict(span.attributes or {})
                if name in ("ref", "ref_async"):
                    assert attrs == bench_peers.eight_attributes(bench_peers.RESPONSE)
                elif name == "ref_stream":
                    assert attrs == {}
                else:
                    assert attrs[semconv.CHATBOT_STAGE] == "generation", name
                    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "openai", name
                    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini", name
                    assert _usage(span) == ((100, 48) if name == "ours_stream" else (812, 95)), name
                    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] > 0, name
    finally:
        bench.close()


@pytest.mark.slow  # a gc.collect() of the test process's heap before every row
def test_measure_gives_every_row_its_figures() -> None:
    exporter = InMemorySpanExporter()
    bench = bench_peers.setup(OURS, peers=False, exporter=lambda: exporter, batch=False)
    try:
        rows = bench_peers.measure(bench, rounds=1, calls=CALLS, streams=2, gc_on=False)
    finally:
        bench.close()
    assert list(rows) == OURS
    assert rows["ref"]["ratio"] == 1.0
    assert rows["ours_stream"]["base"] == "ref_stream"
    assert rows["ours_stream"]["added_us_per_chunk"] is not None
    for row in rows.values():
        assert 0 < row["min_us"] <= row["median_us"]
    warm = 1
    expected = sum(warm + (2 if row["kind"] == "stream" else CALLS) for row in rows.values())
    assert len(exporter.get_finished_spans()) == expected


@pytest.mark.slow
def test_the_parent_runs_a_child_per_config_and_every_call_is_exported() -> None:
    command = [sys.executable, "-m", "benchmarks.bench_peers", "--configs", "gc-off-nopeers", "--json"]
    command += ["--rounds", "1", "--calls", "20", "--streams", "2"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(done.stdout)
    (result,) = report["results"]
    assert result["config"] == "gc-off-nopeers"
    assert set(result["rows"]) == set(OURS)
    assert result["spans"]["exported"] == result["spans"]["expected"] > 0
