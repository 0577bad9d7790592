"""The embedded endpoints and exports survive poison values (issue 13, item 2: a tenant id with a surrogate broke
the embedded ``/metrics`` for the life of the process).

The values are set on the span with the SDK directly (``stage.span.set_attribute``), as another instrumentation
would: our own paths repair them earlier, so this checks the metrics, the exposition and the dump on their own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import MetricsData
from prometheus_client.parser import text_string_to_metric_families

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.stats import render_prometheus
from tests._otlp_receiver import OtlpReceiver
from tests.unit.poison._helpers import data_points, grpc_receiver

POISON_TENANT = "acme\ud800"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with grpc_receiver() as r:
        yield r


def _poisoned_calls() -> None:
    for tenant, cost, ttfc, tokens in (
        (POISON_TENANT, 0.5, 0.1, 10),
        ("ok", math.nan, math.inf, 2**63),
        ("\ud83d\ude00", math.inf, -1.0, 2**200),
        ("fine", 0.25, 0.2, 7),
    ):
        with oc.traced_stage("generation", model="gpt-4o-mini\udc00") as stage:
            stage.span.set_attribute(semconv.GEN_AI_REQUEST_STREAM, True)
            stage.span.set_attribute(semconv.CHATBOT_TENANT_ID, tenant)
            stage.span.set_attribute(semconv.GEN_AI_USAGE_COST_AMOUNT, cost)
            stage.span.set_attribute(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttfc)
            stage.span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, tokens)
            stage.span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 3)


def _parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(dict(sample.labels), sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_metrics_latency_and_dump_stay_valid_with_poison_values(tmp_path: Path) -> None:
    tel = oc.configure("poison-endpoints")
    _poisoned_calls()
    app = FastAPI()
    tel.mount(app)
    tel.mount_ui(app)
    with TestClient(app) as client:
        view = client.get("/otel-chatbot/api/view")
        assert view.status_code == 200
        json.loads(view.content.decode("utf-8", errors="strict"), parse_constant=_no_nan)
        for _ in range(2):  # every scrape, not only the first
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            families = _parse(metrics.content.decode("utf-8", errors="strict"))
            latency = client.get("/metrics/latency")
            assert latency.status_code == 200
            json.loads(latency.content.decode("utf-8", errors="strict"))
    tel.dump(str(tmp_path / "dump.json"))
    dumped = json.loads((tmp_path / "dump.json").read_bytes().decode("utf-8", errors="strict"), parse_constant=_no_nan)
    assert dumped["format"]
    tel.shutdown()
    cost = (
        {labels.get("chatbot_tenant_id"): value for labels, value in families["chatbot_genai_cost_usd"]}
        if ("chatbot_genai_cost_usd" in families)
        else _cost_series(families)
    )
    assert cost.get("acme\ufffd") == pytest.approx(0.5)  # the tenant is kept, repaired
    assert all(math.isfinite(value) for samples in families.values() for _, value in samples)


def _cost_series(families: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str | None, float]:
    (name,) = [n for n in families if "cost" in n]
    return {labels.get("chatbot_tenant_id"): value for labels, value in families[name]}


def _no_nan(constant: str) -> float:
    raise AssertionError(f"{constant} in the dump: not JSON")


def test_render_prometheus_never_raises_on_values_that_are_not_finite() -> None:
    from otel_chatbot.stats._snapshot import CounterSeries, StatsSnapshot

    snapshot = StatsSnapshot(
        service_name="s",
        generated_at=0.0,
        counters=(
            CounterSeries("a_total", (("l", 'x\ud800\n"\\'),), math.nan),
            CounterSeries("b_total", (), math.inf),
            CounterSeries("c_total", (), 2**2000),
        ),
    )
    families = _parse(render_prometheus(snapshot).encode("utf-8").decode("utf-8"))
    assert families["a"][0][0] == {"l": 'x\ufffd\n"\\'}
    assert math.isnan(families["a"][0][1]) and families["b"][0][1] == math.inf and families["c"][0][1] == math.inf


def test_the_otlp_metric_export_carries_the_poisoned_tenant_repaired(receiver: OtlpReceiver) -> None:
    tel = oc.configure("poison-endpoints", endpoint=receiver.endpoint, embedded=False)
    _poisoned_calls()
    assert tel._metrics is not None
    merged = tel._metrics.merged(MetricsData(resource_metrics=[]))
    encode_metrics(merged).SerializeToString()  # what the exporter does: no exception
    assert tel.force_flush(5)
    tel.shutdown(5)
    points = data_points(receiver)
    tenants = {kv.value.string_value for p in points for kv in p.attributes if kv.key == semconv.CHATBOT_TENANT_ID}
    assert tenants == {"acme\ufffd", "fine"}  # the NaN and infinite costs were not counted
    models = {kv.value.string_value for p in points for kv in p.attributes if kv.key == semconv.GEN_AI_REQUEST_MODEL}
    assert models == {"gpt-4o-mini\ufffd"}
