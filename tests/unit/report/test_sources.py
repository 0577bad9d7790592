"""The same traffic read back from every source gives the same numbers: the running app's /metrics/latency, a
Telemetry.dump() file, and Jaeger's /api/traces (a Jaeger-shaped fixture built from the very same spans)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.cli._main import main
from otel_chatbot.stats._snapshot import StatsSnapshot
from tests._http import eventually, get_json
from tests._jaeger_fixture import jaeger_traces
from tests._servers import serve_asgi, serve_json

REQUESTS = 40
SERVICE = "sources-bot"


@oc.traced_stage("retrieval", data_source="faq")
def retrieve(delay: float) -> list[str]:
    time.sleep(delay)
    return ["doc"]


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def generate(delay: float) -> dict[str, Any]:
    time.sleep(delay)
    return {"usage": {"prompt_tokens": 800, "completion_tokens": 60}}


@oc.traced_stage("memory_update")
def remember(fail: bool) -> None:
    time.sleep(0.002)  # >= 1 ms: Jaeger keeps microseconds, so its rounding stays far below the sketch's 1%
    if fail:
        raise KeyError("store down")


def build_app() -> FastAPI:
    app = FastAPI()
    rng = random.Random(7)
    n = {"i": 0}

    @app.get("/chat")
    def chat() -> dict[str, str]:
        n["i"] += 1
        retrieve(rng.uniform(0.001, 0.004))
        generate(rng.uniform(0.004, 0.012))
        try:
            remember(n["i"] % 10 == 0)
        except KeyError:
            pass
        return {"answer": "ok"}

    return app


@pytest.fixture
def traffic(tmp_path: Path) -> Iterator[tuple[str, StatsSnapshot, InMemorySpanExporter, Path]]:
    exporter = InMemorySpanExporter()
    tel = oc.configure(SERVICE, span_processors=[SimpleSpanProcessor(exporter)])
    app = build_app()
    oc.instrument_fastapi(app)
    tel.mount(app)
    with serve_asgi(app) as url:
        for _ in range(REQUESTS):
            get_json(f"{url}/chat", timeout=30)  # raises on an error status
        # The server span ends just after the response is sent: wait for the last root to be recorded.
        snapshot = eventually(lambda: s if recorded(s := tel.report()) == REQUESTS else None, timeout=30, interval=0.01)
        assert snapshot is not None, tel.report()
        dump = tmp_path / "stats.json"
        tel.dump(str(dump))
        yield url, snapshot, exporter, dump
    tel.shutdown()


def recorded(snapshot: oc.StatsSnapshot) -> int:
    return snapshot.requests.count if snapshot.requests else 0


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> StatsSnapshot:
    assert main(["report", *args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return StatsSnapshot.from_dict(doc["snapshot"])


def assert_same_stages(expected: StatsSnapshot, got: StatsSnapshot, *, exact: bool) -> None:
    # Percentiles: each source is within 1% of the true value, so two sources agree within 2% (one DDSketch bin:
    # a value rounded to Jaeger's microseconds can cross a bin edge). Means and shares are plain sums: within 0.1%.
    rel_p, rel_sum = (1e-9, 1e-9) if exact else (0.021, 0.001)
    assert [s.stage for s in got.stages] == [s.stage for s in expected.stages]
    for want, have in zip(expected.stages, got.stages, strict=True):
        assert have.latency.count == want.latency.count, want.stage
        assert have.latency.mean_ms == pytest.approx(want.latency.mean_ms, rel=rel_sum), want.stage
        for field in ("p50_ms", "p95_ms", "p99_ms"):
            assert getattr(have.latency, field) == pytest.approx(getattr(want.latency, field), rel=rel_p), field
        assert have.share == pytest.approx(want.share, rel=rel_sum)


def test_every_source_gives_the_same_numbers(
    traffic: tuple[str, StatsSnapshot, InMemorySpanExporter, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, embedded, exporter, dump = traffic
    assert embedded.requests is not None and embedded.requests.count == REQUESTS
    assert {s.stage for s in embedded.stages} == {"retrieval", "generation", "memory_update"}
    memory = embedded.stage("memory_update")
    assert memory is not None and memory.latency.errors == REQUESTS // 10

    from_app = cli_json(["--url", url], capsys)  # (a) the running app's /metrics/latency
    assert_same_stages(embedded, from_app, exact=True)

    from_dump = cli_json([str(dump)], capsys)  # (b) the Telemetry.dump() file
    assert from_dump.stages == embedded.stages
    assert from_dump.usage == embedded.usage

    spans = exporter.get_finished_spans()
    fixture = jaeger_traces(spans, SERVICE)
    seen: list[dict[str, list[str]]] = []

    def jaeger(path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        seen.append(query)
        return (200, fixture) if path == "/api/traces" else (404, {"error": "no"})

    with serve_json(jaeger) as jaeger_url:  # (c) Jaeger's query API
        from_jaeger = cli_json(["--jaeger", jaeger_url, "--service", SERVICE, "--since", "1h"], capsys)
    assert seen[0]["service"] == [SERVICE]
    assert int(seen[0]["end"][0]) - int(seen[0]["start"][0]) == 3600 * 10**6
    assert_same_stages(embedded, from_jaeger, exact=False)
    gen_j, gen_e = from_jaeger.stage("generation"), embedded.stage("generation")
    assert gen_j is not None and gen_e is not None
    assert gen_j.cost_usd == pytest.approx(gen_e.cost_usd) and gen_j.cost_usd > 0
    mem_j = from_jaeger.stage("memory_update")
    assert mem_j is not None and mem_j.error_types == (("KeyError", REQUESTS // 10),)


def test_table_report_from_the_dump(
    traffic: tuple[str, StatsSnapshot, InMemorySpanExporter, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, embedded, _, dump = traffic
    assert main(["report", str(dump)]) == 0
    out = capsys.readouterr().out
    assert f"otel-chatbot report: {SERVICE}" in out
    assert "Latency per stage (ms)" in out and "generation" in out and "Recommendations" in out
    gen = embedded.stage("generation")
    assert gen is not None and f"{gen.share * 100:.1f}%" in out  # type: ignore[operator]
    assert semconv.Stage.MEMORY_UPDATE.value in out
