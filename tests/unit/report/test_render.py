"""Recommendations (each rule, thresholds, baseline), rendering, the CLI's errors, the FastAPI endpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from otel_chatbot import semconv
from otel_chatbot._durations import parse_duration
from otel_chatbot.cli._main import main
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.report._recommendations import Thresholds, recommend
from otel_chatbot.report._render import render
from otel_chatbot.stats._http import mount
from otel_chatbot.stats._snapshot import StatsSnapshot, UsageStats
from tests._embedded_helpers import TraceBuilder, generation_attrs, stage_attrs
from tests._servers import serve_json


def busy_bot(
    *,
    gen_ms: float = 800.0,
    n: int = 40,
    ttft_s: float = 0.2,
    error_every: int = 0,
    outlier: bool = False,
    hit_every: int = 0,
    model_b_every: int = 0,
    cost: float = 0.001,
) -> StatsSnapshot:
    tb = TraceBuilder()
    for i in range(n):
        model = "gpt-4o" if model_b_every and i % model_b_every == 0 else "gpt-4o-mini"
        variant = {semconv.CHATBOT_VARIANT: "A" if i % 2 else "B"}
        with tb.request(gen_ms + 200, start_ms=i * 10_000) as req:
            if hit_every:
                req.stage("cache", 0, 2, stage_attrs("cache", {semconv.CHATBOT_CACHE_HIT: i % hit_every == 0}))
            slow = 2000 if outlier and i >= n - 2 else 50
            req.stage(
                "retrieval",
                2,
                slow,
                stage_attrs("retrieval", variant),
                error="TimeoutError" if error_every and i % error_every == 0 else None,
            )
            req.stage(
                "generation",
                100,
                gen_ms,
                generation_attrs(
                    model,
                    cost=cost,
                    extra={
                        **variant,
                        semconv.GEN_AI_REQUEST_STREAM: True,
                        semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: ttft_s,
                    },
                ),
            )
    snap: StatsSnapshot = tb.snapshot()
    return snap


def rules(snapshot: StatsSnapshot, **kwargs: Any) -> dict[str, Any]:
    return {r.rule: r for r in recommend(snapshot, **kwargs)}


def test_quiet_bot_has_no_recommendation() -> None:
    snap = busy_bot(gen_ms=100, ttft_s=0.05, model_b_every=2)
    assert rules(snap) == {}
    assert "Nothing crosses a threshold." in render(snap)


def test_each_rule_fires_with_evidence() -> None:
    snap = busy_bot(gen_ms=4000, ttft_s=1.5, error_every=10, outlier=True, hit_every=20)
    found = rules(snap)
    assert set(found) == {
        "generation_share",
        "ttft",
        "tokens_per_s",
        "error_rate",
        "outliers",
        "cache_hit_rate",
        "model_cost_share",
    }
    gen = found["generation_share"]
    # 40 requests of 4,200 ms, 4,000 ms of generation each; in the 2 outlier requests retrieval (2,000 ms) overlaps
    # generation, so their top-level stages (6,002 ms) are scaled down to the request's 4,200 ms:
    # (38 x 4,000 + 2 x 4,000 x 4,200 / 6,002) / (40 x 4,200) = 93.8% (it was 95.2%, with shares adding up past 100%).
    assert gen.stage == "generation" and dict(gen.evidence)["share"] == "93.8%"
    assert len(gen.trace_ids) == 3 and all(len(t) == 32 for t in gen.trace_ids)
    assert dict(found["ttft"].evidence)["TTFT p95"] == "1,500 ms"
    assert dict(found["error_rate"].evidence)["types"] == "TimeoutError ×4"
    retrieval = snap.stage("retrieval")
    assert retrieval is not None and found["outliers"].trace_ids[0] == retrieval.latency.slowest_trace_ids[0]
    impacts = [r.impact for r in recommend(snap)]
    assert impacts == sorted(impacts, reverse=True)
    assert all(0 <= i <= 1 for i in impacts)


def test_thresholds_are_configurable() -> None:
    snap = busy_bot(gen_ms=3000, ttft_s=1.5)
    relaxed = Thresholds(generation_share=0.99, ttft_p95_ms=2000, min_tokens_per_s=0, model_cost_share=1.0)
    assert rules(snap, thresholds=relaxed) == {}
    assert Thresholds.from_mapping({"ttft_p95_ms": "500", "min_count": "3"}) == Thresholds(ttft_p95_ms=500, min_count=3)
    with pytest.raises(ConfigurationError, match="unknown threshold"):
        Thresholds.from_mapping({"nope": "1"})
    with pytest.raises(ConfigurationError, match="needs a number"):
        Thresholds.from_mapping({"error_rate": "high"})
    with pytest.raises(ConfigurationError):
        Thresholds(error_rate=-1)


def test_small_samples_are_not_judged() -> None:
    assert rules(busy_bot(gen_ms=3000, ttft_s=1.5, n=5)) == {}


def test_baseline_regressions() -> None:
    old = busy_bot(gen_ms=500, cost=0.001)
    new = busy_bot(gen_ms=900, cost=0.002)
    found = rules(
        new,
        baseline=old,
        thresholds=Thresholds(generation_share=1, ttft_p95_ms=1e9, min_tokens_per_s=0, model_cost_share=1),
    )
    assert set(found) == {"latency_regression", "cost_regression"}
    assert dict(found["latency_regression"].evidence) == {"p95 now": "900 ms", "p95 baseline": "500 ms"}
    assert found["cost_regression"].title == "generation: cost per request rose 100.0% against the baseline"
    assert rules(old, baseline=old, thresholds=Thresholds(generation_share=1)).keys() <= {
        "ttft",
        "tokens_per_s",
        "model_cost_share",
    }


def test_render_formats_and_variants_side_by_side() -> None:
    snap = busy_bot(gen_ms=3000, ttft_s=1.5, hit_every=3)
    table = render(snap)
    assert "Variants side by side" in table and "\nA  " in table and "\nB  " in table
    md = render(snap, "markdown")
    assert "## Latency per stage (ms)" in md and "| generation |" in md
    doc = json.loads(render(snap, "json"))
    assert StatsSnapshot.from_dict(doc["snapshot"]) == snap
    assert doc["recommendations"][0]["trace_ids"]
    with pytest.raises(ValueError):
        render(snap, "html")  # type: ignore[arg-type]


def test_cli_baseline_markdown_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    busy_bot(gen_ms=500).dump(old)
    busy_bot(gen_ms=900).dump(new)
    out = tmp_path / "report.md"
    assert (
        main(
            [
                "report",
                str(new),
                "--baseline",
                str(old),
                "--format",
                "markdown",
                "-o",
                str(out),
                "--threshold",
                "generation_share=0.99",
            ]
        )
        == 0
    )
    text = out.read_text()
    assert "## Against the baseline" in text and "p95 regressed 80.0%" in text
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["report"], 2, "exactly one source"),
        (["report", "x.json", "--url", "http://127.0.0.1:9"], 2, "exactly one source"),
        (["report", "--jaeger", "http://127.0.0.1:9"], 2, "needs --service"),
        (["report", "--url", "http://127.0.0.1:9", "--threshold", "ttft"], 2, "NAME=VALUE"),
        (["report", "--prometheus", "http://127.0.0.1:9", "--since", "soon"], 2, "not a duration"),
        (
            ["report", "--url", "http://127.0.0.1:9"],
            1,
            "cannot reach the app at http://127.0.0.1:9 (Connection refused)",
        ),
        (["report", "--prometheus", "http://127.0.0.1:9"], 1, "cannot reach Prometheus at http://127.0.0.1:9"),
        (["report", "/nonexistent/stats.json"], 1, "the file /nonexistent/stats.json: no such file"),
        (["report", "http://127.0.0.1:9/metrics"], 2, "is a URL, not a file: use --url http://127.0.0.1:9/metrics"),
    ],
)
def test_cli_errors(argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not any(raw in err for raw in ("<urlopen", "Errno", "Error(", "Traceback"))  # words, never raw exceptions


def test_cli_errors_name_the_file_and_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert main(["report", str(bad)]) == 1
    assert f"the file {bad} is not JSON (line 1, column 6): give a file written by Telemetry.dump()" in (
        capsys.readouterr().err
    )
    good = tmp_path / "good.json"
    good.write_text(render(busy_bot(), "json"), encoding="utf-8")
    assert main(["report", str(good), "--baseline", str(tmp_path / "old.json")]) == 1
    assert f"the baseline file {tmp_path / 'old.json'}: no such file" in capsys.readouterr().err


def test_cli_rejects_files_of_another_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"generation": {"count": 1}}')
    assert main(["report", str(odd)]) == 1
    assert f"the file {odd} holds no statistics otel-chatbot can read" in capsys.readouterr().err
    odd.write_text('{"format": "something-else"}')
    assert main(["report", str(odd)]) == 1
    assert f"the file {odd}: not an otel-chatbot snapshot (format 'something-else')" in capsys.readouterr().err


def test_parse_duration() -> None:
    assert parse_duration("90s") == 90 and parse_duration("1h") == 3600 and parse_duration("7d") == 7 * 86400
    with pytest.raises(ValueError):
        parse_duration("7 days")


def test_latency_endpoint_has_exactly_the_documented_shape() -> None:
    snap = busy_bot()
    app = FastAPI()
    mount(app, lambda: snap)
    client = TestClient(app)
    doc = client.get("/metrics/latency").json()
    assert set(doc) == {"retrieval", "generation"}
    for stage in doc.values():
        assert set(stage) == {"count", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "share"}
    assert doc["generation"]["count"] == 40 and doc["generation"]["share"] == pytest.approx(0.8)
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "traces_span_metrics_calls_total{" in metrics.text


def test_prometheus_source(capsys: pytest.CaptureFixture[str]) -> None:
    gen = {"chatbot_stage": "generation"}
    model = {"gen_ai_request_model": "gpt-4o-mini"}
    answers: list[tuple[tuple[str, ...], list[tuple[dict[str, str], float]]]] = [
        (("STATUS_CODE_ERROR",), [(gen, 1)]),
        (("by (chatbot_stage)", "traces_span_metrics_calls_total"), [(gen, 10)]),
        (("histogram_quantile(0.5,",), [(gen, 700)]),
        (("histogram_quantile(0.95,",), [(gen, 1200)]),
        (("histogram_quantile(0.99,",), [(gen, 1500)]),
        (("by (chatbot_stage)", "duration_milliseconds_sum"), [(gen, 8000)]),
        (("by (service_name)", "SPAN_KIND_SERVER", "duration_milliseconds_sum"), [({"service_name": "bot"}, 10000)]),
        # usage: the SDK metrics (every call, summed over worker instances by the query)
        (("by (gen_ai_request_model)", "chatbot_cost_usd_total"), [({"gen_ai_request_model": "gpt-4o-mini"}, 0.5)]),
        (("by (gen_ai_request_model)", "gen_ai_client_inference_duration_seconds_count"), [(model, 12)]),
        (("by (gen_ai_request_model)", "gen_ai_client_inference_usage_input_tokens_total"), [(model, 9000)]),
        (("by (gen_ai_request_model)", "gen_ai_client_inference_usage_output_tokens_total"), [(model, 600)]),
        (("by (gen_ai_request_model)", "gen_ai_client_inference_usage_cache_read_input_tokens_total"), [(model, 512)]),
        (("by (chatbot_stage)", "gen_ai_client_inference_usage_input_tokens_total"), [(gen, 9000)]),
        (("by (chatbot_stage)", "chatbot_cost_usd_total"), [(gen, 0.5)]),
    ]
    queries: list[str] = []

    def prometheus(path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        q = query["query"][0]
        queries.append(q)
        result = next((v for parts, v in answers if all(p in q for p in parts)), [])
        return 200, {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": m, "value": [0, str(v)]} for m, v in result]},
        }

    with serve_json(prometheus) as url:
        assert main(["report", "--prometheus", url, "--service", "bot", "--format", "json"]) == 0
        assert not any("increase(" in q for q in queries)  # totals since the Collector started
        assert main(["report", "--prometheus", url, "--service", "bot", "--since", "1h", "--format", "json"]) == 0
    capsys.readouterr()
    with serve_json(prometheus) as url:
        assert main(["report", "--prometheus", url, "--service", "bot", "--format", "json"]) == 0
    snap = StatsSnapshot.from_dict(json.loads(capsys.readouterr().out)["snapshot"])
    (stage,) = snap.stages
    assert dataclasses.astuple(stage.latency)[:8] == (10, 1, 800.0, 0.0, 0.0, 700.0, 1200.0, 1500.0)
    assert stage.share == pytest.approx(0.8)
    assert snap.usage.by_model == (UsageStats("gpt-4o-mini", 12, 9000, 600, 512, 0.5),)
    assert snap.usage.by_stage == (UsageStats("generation", 0, 9000, 0, 0, 0.5),)
    assert not any("token_usage" in q or "operation_time_to_first_chunk" in q for q in queries)  # removed series
    assert all('service_name="bot"' in q for q in queries)
    assert any("increase(" in q and "[3600s]" in q for q in queries)


def test_tiny_stages_with_a_relative_tail_are_not_outliers() -> None:
    tb = TraceBuilder()
    for i in range(40):
        with tb.request(100, start_ms=i * 1000) as req:
            # auth takes 0.1 ms, and 0.6 ms for two requests: p99 is 6x p95, but 0.5 ms of tail is nothing.
            req.stage("auth_validation", 0, 0.6 if i >= 38 else 0.1)
            req.stage("retrieval", 1, 40 if i < 38 else 400)  # a real tail: 360 ms
    found = rules(tb.snapshot())
    assert "outliers" in found and found["outliers"].stage == "retrieval"
    assert [r.stage for r in recommend(tb.snapshot()) if r.rule == "outliers"] == ["retrieval"]
    assert "outliers" not in rules(tb.snapshot(), thresholds=Thresholds(tail_min_ms=1000))


def test_provider_prompt_cache_reads_are_reported() -> None:
    tb = TraceBuilder()
    with tb.request(1000) as req:
        req.stage(
            "generation", 0, 900, generation_attrs(inp=2000, extra={semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1500})
        )
    text = render(tb.snapshot())
    assert "Provider prompt cache" in text
    line = next(line for line in text.splitlines() if "gpt-4o-mini" in line and "1,500" in line)
    assert "75.0%" in line or "75%" in line


def test_first_chunk_column_only_when_it_differs_from_the_first_token() -> None:
    same = render(busy_bot(gen_ms=100, ttft_s=0.05))
    assert "TTFT p50" in same and "first chunk" not in same  # text-only streams: one number, shown once
    tb = TraceBuilder()
    for i in range(10):
        with tb.request(700, start_ms=i * 1000) as req:
            extra = {
                semconv.GEN_AI_REQUEST_STREAM: True,
                semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.1,
                semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN: 0.4,
            }
            req.stage("generation", 0, 600, generation_attrs("o4-mini", extra=extra))
    stream = tb.snapshot().streams[0]
    assert stream.ttfc_p50_ms == pytest.approx(100, rel=0.02) and stream.ttft_p50_ms == pytest.approx(400, rel=0.02)
    text = render(tb.snapshot())
    header = next(line for line in text.splitlines() if line.startswith("stage / model") and "TTFT" in line)
    assert "first chunk p50" in header and "first chunk p95" in header


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    from otel_chatbot import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"otel-chatbot {__version__}"
