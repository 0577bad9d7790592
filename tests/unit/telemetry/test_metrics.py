"""The SDK metrics as the embedded ``/metrics`` serves them: names, labels, modality, buckets, streams, tenants."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.stats import render_prometheus
from tests.unit.stats.test_exposition import _samples, promtool_check

MODEL = "gpt-4o-mini"


def _completion(inp: int, out: int, **usage: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "model": MODEL,
        "choices": [{"finish_reason": "stop"}],
        "usage": {"prompt_tokens": inp, "completion_tokens": out, **usage},
    }


@oc.traced_stage("generation", model=MODEL, provider="openai")
def generate(inp: int, out: int, **usage: Any) -> dict[str, Any]:
    return _completion(inp, out, **usage)


@oc.traced_stage("generation", model=MODEL, provider="openai")
def stream(chunks: int, gap_s: float) -> Iterator[dict[str, Any]]:
    for i in range(chunks):
        time.sleep(gap_s)
        yield {"id": "c", "model": MODEL, "choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}
    yield {"id": "c", "model": MODEL, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": chunks}}


@oc.traced_stage("retrieval")
def retrieve() -> list[str]:
    raise TimeoutError("index down")


@pytest.fixture
def tel() -> Iterator[oc.Telemetry]:
    telemetry = oc.configure("metrics-bot")
    yield telemetry
    telemetry.shutdown(timeout=5)


def test_usage_counters_by_modality_and_per_call_histograms(tel: oc.Telemetry) -> None:
    generate(100, 40, prompt_tokens_details={"cached_tokens": 30, "audio_tokens": 20})
    generate(50, 10, completion_tokens_details={"reasoning_tokens": 4})
    for tenant in ("acme", "globex"):
        with oc.conversation(tenant_id=tenant):
            generate(10, 10)
    samples = _samples(render_prometheus(tel.report()))
    inputs = {s["gen_ai_token_modality"]: float(s["__value__"]) for s in samples[semconv.METRIC_INPUT_TOKENS]}
    assert inputs == {"audio": 20, "unknown": 100 - 20 + 50 + 20}  # only what the provider broke down is split
    assert sum(float(s["__value__"]) for s in samples[semconv.METRIC_OUTPUT_TOKENS]) == 40 + 10 + 20
    assert [s["__value__"] for s in samples[semconv.METRIC_CACHE_READ_TOKENS]] == ["30"]
    assert [s["__value__"] for s in samples[semconv.METRIC_REASONING_TOKENS]] == ["4"]
    for sample in samples[semconv.METRIC_INPUT_TOKENS]:
        assert {k: sample[k] for k in ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")} == {
            "gen_ai_operation_name": "chat",
            "gen_ai_provider_name": "openai",
            "gen_ai_request_model": MODEL,
        }
        assert sample["chatbot_stage"] == "generation" and sample["service_name"] == "metrics-bot"
    per_call = samples[semconv.METRIC_OPERATION_INPUT_TOKENS + "_count"]
    assert sum(int(s["__value__"]) for s in per_call) == 4
    les = [s["le"] for s in samples[semconv.METRIC_OPERATION_INPUT_TOKENS + "_bucket"]][:15]
    assert les[:3] == ["1", "4", "16"] and les[-2:] == ["67108864", "+Inf"]
    cost = samples[semconv.METRIC_COST]
    assert {s.get("chatbot_tenant_id") for s in cost} == {None, "acme", "globex"}
    assert sum(float(s["__value__"]) for s in cost) == pytest.approx(tel.report().usage.total_cost_usd, rel=1e-9)
    code, problems = promtool_check(render_prometheus(tel.report()))
    assert code in (0, 3) and not {p for p in problems if "milliseconds" not in p}


def test_durations_errors_and_stream_timings(tel: oc.Telemetry) -> None:
    generate(1, 1)
    with pytest.raises(TimeoutError):
        retrieve()
    assert "".join(c["choices"][0]["delta"]["content"] for c in stream(5, 0.02) if c["choices"]) != ""
    samples = _samples(render_prometheus(tel.report()))
    stages = {
        (s["chatbot_stage"], s.get("error_type")): int(s["__value__"])
        for s in samples[semconv.METRIC_STAGE_DURATION + "_count"]
    }
    assert stages == {("generation", None): 2, ("retrieval", "TimeoutError"): 1}
    inference = samples[semconv.METRIC_INFERENCE_DURATION + "_count"]
    assert sum(int(s["__value__"]) for s in inference) == 2  # the retrieval stage is not an inference call
    (ttfc,) = samples[semconv.METRIC_TTFC + "_sum"]
    assert 0.015 < float(ttfc["__value__"]) < 0.5
    (ttft_count,) = samples[semconv.METRIC_TTFT + "_count"]
    assert ttft_count["__value__"] == "1"
    (tpoc,) = samples[semconv.METRIC_TPOC + "_sum"]
    assert 0.015 < float(tpoc["__value__"]) < 0.5  # ~20 ms between chunks
    buckets = [s["le"] for s in samples[semconv.METRIC_TTFC + "_bucket"]]
    assert buckets[0] == "0.01" and buckets[-2:] == ["81.92", "+Inf"]


def test_tenant_labels_are_bounded(tel: oc.Telemetry) -> None:
    assert tel._metrics is not None
    tel._metrics._max_tenants = 2
    for tenant in ("a", "b", "c", "d"):
        with oc.conversation(tenant_id=tenant):
            generate(1, 1)
    cost = _samples(render_prometheus(tel.report()))[semconv.METRIC_COST]
    assert sorted(s["chatbot_tenant_id"] for s in cost) == ["a", "b", "other"]


def test_no_metrics_without_embedded_or_otlp() -> None:
    tel = oc.configure("quiet", embedded=False)
    try:
        generate(1, 1)  # no reader to record into: no MeterProvider is built
        assert tel._metrics is None
    finally:
        tel.shutdown(timeout=5)


def test_a_forked_worker_is_a_new_instance_with_counts_of_its_own(tel: oc.Telemetry) -> None:
    """gunicorn --preload: configure() ran in the parent, the workers are forked from it."""
    import json
    import os

    metrics = tel._metrics
    assert metrics is not None
    generate(1, 1)
    parent_id = metrics.resource.attributes["service.instance.id"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it sees, then leave without running the parent's cleanup
        try:
            generate(2, 2)
            histograms, counters = metrics.series()
            seen = {
                "id": metrics.resource.attributes["service.instance.id"],
                "input": sum(c.value for c in counters if c.name == semconv.METRIC_INPUT_TOKENS),
            }
            os.write(write, json.dumps(seen).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        seen = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert seen["id"] != parent_id and seen["input"] == 2  # its own id; only its own call counted
    assert metrics.resource.attributes["service.instance.id"] == parent_id


def test_the_old_cache_write_name_of_other_instrumentations_is_counted(tel: oc.Telemetry) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind
    from opentelemetry.util.types import AttributeValue

    attributes: dict[str, AttributeValue] = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_REQUEST_MODEL: MODEL,
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 2000,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
        semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 1500,  # OpenLIT 1.45
    }
    trace.get_tracer("openlit").start_span("chat", kind=SpanKind.CLIENT, attributes=attributes).end()
    samples = _samples(render_prometheus(tel.report()))
    assert [s["__value__"] for s in samples[semconv.METRIC_CACHE_WRITE_TOKENS]] == ["1500"]
