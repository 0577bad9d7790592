"""GET /metrics text: the contract's metric names and labels (docs/metrics.md), checked by promtool (never skipped)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from otel_chatbot import semconv
from otel_chatbot.stats._exposition import render_prometheus
from tests._embedded_helpers import TraceBuilder, generation_attrs, stage_attrs

# The one lint remark promtool makes on the contract's own name: the Collector's span_metrics connector exposes
# exactly this name too (docs/metrics.md), so it is expected; anything else fails the test.
_EXPECTED_LINT = {'traces_span_metrics_duration_milliseconds use base unit "seconds" instead of "milliseconds"'}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's prometheus package (scripts/test does it)")
    return path


def promtool_check(text: str) -> tuple[int, set[str]]:
    proc = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    problems = {line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()}
    return proc.returncode, problems


def traffic() -> TraceBuilder:
    tb = TraceBuilder()
    for i in range(20):
        tenant = {semconv.CHATBOT_TENANT_ID: f"tenant-{i % 3}"}
        with tb.request(400 + i, start_ms=i * 1000) as req:
            req.stage("retrieval", 0, 30 + i, stage_attrs("retrieval", {semconv.GEN_AI_OPERATION_NAME: "retrieval"}))
            req.stage(
                "generation",
                40,
                300,
                generation_attrs(
                    extra={
                        **tenant,
                        semconv.GEN_AI_REQUEST_STREAM: True,
                        semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.05 * (i + 1),
                        semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN: 0.05 * (i + 1) + 0.2,
                    }
                ),
                error="RateLimitError" if i == 3 else None,
            )
    return tb


def test_promtool_accepts_the_exposition() -> None:
    text = render_prometheus(traffic().snapshot())
    code, problems = promtool_check(text)
    assert problems == _EXPECTED_LINT
    assert code in (0, 3)  # 3 = lint remarks only; a parse error is 1


def test_promtool_rejects_broken_text() -> None:
    code, problems = promtool_check('traces_span_metrics_calls_total{service_name="x" 1\n')
    assert code == 1 and problems


def _samples(text: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-z_]+)\{(.*)\} (\S+)$", line)
        assert m, line
        labels = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        labels["__value__"] = m.group(3)
        out.setdefault(m.group(1), []).append(labels)
    return out


def test_metric_names_and_labels_follow_design_section_5() -> None:
    samples = _samples(render_prometheus(traffic().snapshot()))
    assert set(samples) == {
        "traces_span_metrics_duration_milliseconds_bucket",
        "traces_span_metrics_duration_milliseconds_sum",
        "traces_span_metrics_duration_milliseconds_count",
        "traces_span_metrics_calls_total",
    }  # tokens, cost, TTFC/TTFT: the SDK metrics (tests/unit/telemetry/test_metrics.py)
    gen_calls = [s for s in samples["traces_span_metrics_calls_total"] if s.get("chatbot_stage") == "generation"]
    assert {(s["status_code"], s["__value__"]) for s in gen_calls} == {
        ("STATUS_CODE_UNSET", "19"),
        ("STATUS_CODE_ERROR", "1"),
    }
    assert {k for s in gen_calls for k in s} == {
        "service_name",
        "span_name",
        "span_kind",
        "status_code",
        "chatbot_stage",
        "gen_ai_operation_name",
        "gen_ai_request_model",
        "gen_ai_provider_name",
        "__value__",
    }
    assert gen_calls[0]["span_kind"] == "SPAN_KIND_CLIENT"
    server = [s for s in samples["traces_span_metrics_calls_total"] if s["span_kind"] == "SPAN_KIND_SERVER"]
    assert server and server[0]["status_code"] == "STATUS_CODE_UNSET"
    les = [
        s["le"]
        for s in samples["traces_span_metrics_duration_milliseconds_bucket"]
        if s["span_name"] == server[0]["span_name"]
    ]
    assert les == [
        "10",
        "20",
        "40",
        "80",
        "160",
        "320",
        "640",
        "1280",
        "2560",
        "5120",
        "10240",
        "20480",
        "40960",
        "81920",
        "+Inf",
    ]


def test_histogram_buckets_are_cumulative_and_upper_inclusive() -> None:
    tb = TraceBuilder()
    with tb.request(10.0):  # exactly on the 10 ms bound: counted in le="10"
        pass
    with tb.request(10.5, start_ms=100):
        pass
    samples = _samples(render_prometheus(tb.snapshot()))
    buckets = {s["le"]: s["__value__"] for s in samples["traces_span_metrics_duration_milliseconds_bucket"]}
    assert buckets["10"] == "1" and buckets["20"] == "2" and buckets["+Inf"] == "2"


def test_label_values_are_escaped_and_cardinality_is_capped() -> None:
    tb = TraceBuilder(max_series=3)
    for i in range(10):
        with tb.request(5, start_ms=i * 10, name=f'GET /items/{i} "quoted"\\'):
            pass
    text = render_prometheus(tb.snapshot())
    assert 'span_name="GET /items/0 \\"quoted\\"\\\\"' in text
    assert 'otel_metric_overflow="true"' in text
    code, problems = promtool_check(text)
    assert code in (0, 3) and problems == _EXPECTED_LINT


def test_empty_snapshot_renders_nothing() -> None:
    assert render_prometheus(TraceBuilder().snapshot()) == ""
