"""The chatbot against the local LLM server running as a real process, and the chatbot itself as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from examples._serve import bind
from examples.llm_server import ServerConfig
from examples.loadgen.__main__ import main as loadgen_main
from examples.rag_chatbot.app import BREAKDOWN_STAGES
from otel_chatbot import semconv
from otel_chatbot.stats._processor import StatsSpanProcessor
from tests._http import eventually
from tests._servers import serve_asgi
from tests.integration.example.conftest import (
    APP_KEY,
    PROVIDER_KEY,
    ROOT,
    Process,
    ancestors,
    attrs,
    duration,
    llm_url,
    make_app,
    one,
)

# Realistic but short: 250 ms to the first token, ~40 tokens at 150 tokens/s.
LLM_ARGS = [
    "--ttft-ms",
    "250",
    "--ttft-sigma",
    "0.1",
    "--tokens-per-s",
    "150",
    "--tokens-per-s-sd",
    "0",
    "--outlier-rate",
    "0",
    "--output-tokens-median",
    "40",
    "--seed",
    "3",
]


@pytest.fixture(scope="module")
def llm_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = Process("examples.llm_server", LLM_ARGS, tmp_path_factory.mktemp("llm"))
    try:
        yield f"http://127.0.0.1:{server.wait_port()}/v1"
    finally:
        server.stop()


@pytest.fixture
def app_url(tracer_provider: TracerProvider, llm_process: str) -> Iterator[str]:
    """The chatbot under a real uvicorn server (in a thread, so its spans land in this test's exporter)."""
    with serve_asgi(make_app(tracer_provider, llm_process)) as url:
        yield url


def _stream_chat(url: str, message: str, user: str) -> tuple[list[int], int, dict[str, object]]:
    """(arrival times of the deltas, arrival time of the final event, the final event) — wall-clock ns."""
    deltas: list[int] = []
    headers = {"authorization": f"Bearer {APP_KEY}"}
    with httpx.Client(base_url=url, timeout=30) as client:
        with client.stream(
            "POST", "/chat", json={"message": message, "user_id": user, "stream": True}, headers=headers
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if "delta" in event:
                        deltas.append(time.time_ns())
                    if event.get("done"):
                        return deltas, time.time_ns(), event
    raise AssertionError("no final event")


def _finished(exporter: InMemorySpanExporter, requests: int) -> tuple[ReadableSpan, ...]:
    """The spans, once every request's server span has ended (it ends just after the client read the last byte)."""

    def ended() -> tuple[ReadableSpan, ...] | None:
        spans = exporter.get_finished_spans()
        return spans if sum(s.parent is None for s in spans) >= requests else None

    spans = eventually(ended, timeout=30, interval=0.01)
    assert spans is not None, "the server spans did not end"
    return spans


def test_stream_over_real_servers_keeps_generation_open_until_the_last_byte(
    app_url: str, span_exporter: InMemorySpanExporter
) -> None:
    deltas, done_at, final = _stream_chat(app_url, "How do I turn on two-factor authentication?", "user-1")
    spans = _finished(span_exporter, 1)
    generation = one(spans, "chat gpt-4o-mini")
    streaming = one(spans, "stream_processing")
    assert generation.start_time is not None and generation.end_time is not None
    assert len(deltas) > 10
    # The client was receiving tokens while the span was open, and the span closed before the final event.
    # (The middle token, not the last: the last one may reach the client just after the provider's end.)
    assert generation.start_time < deltas[0] < deltas[len(deltas) // 2] < generation.end_time <= done_at
    tokens = attrs(generation)[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]
    assert tokens == final["usage"]["completion_tokens"] == len(deltas)  # type: ignore[index]
    # every token arrived inside stream_processing (half the time at least: the provider's clock starts first)
    assert duration(streaming) >= (tokens - 1) / 150 * 1e9 * 0.5
    (http_call,) = [s for s in spans if s.kind is SpanKind.CLIENT and s.name == "POST"]
    assert "chat gpt-4o-mini" in ancestors(http_call, spans)
    for span in spans:
        assert PROVIDER_KEY not in span.to_json() and APP_KEY not in span.to_json()
        assert not any("authorization" in key.lower() for key in span.attributes or {})


def test_request_stage_breakdown_sums_to_the_request(
    tracer_provider: TracerProvider, app_url: str, span_exporter: InMemorySpanExporter
) -> None:
    stats = StatsSpanProcessor(service_name="rag-chatbot")
    tracer_provider.add_span_processor(stats)
    headers = {"authorization": f"Bearer {APP_KEY}"}
    with httpx.Client(base_url=app_url, timeout=30, headers=headers) as client:
        for i in range(4):
            body = {"message": f"How long is version history kept? ({i})", "user_id": f"user-{i}"}
            assert client.post("/chat", json=body).status_code == 200
    for i in range(4):
        _stream_chat(app_url, f"What is the maximum attachment size? ({i})", f"user-{i}")
    spans = _finished(span_exporter, 8)
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 8
    parts_total = request_total = 0
    for root in roots:
        trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
        parts = sum(duration(one(trace, stage)) for stage in BREAKDOWN_STAGES)
        assert parts <= duration(root)  # the stages are disjoint parts of the request
        parts_total += parts
        request_total += duration(root)
    # Shares are aggregates over requests (as in the report), so one scheduling stall on this shared machine
    # does not decide the outcome.
    assert parts_total >= 0.95 * request_total, (parts_total, request_total)
    # The report says the same: the breakdown stages' shares add up to the request.
    snapshot = stats.snapshot()
    shares = [snapshot.stage(stage).share for stage in BREAKDOWN_STAGES]  # type: ignore[union-attr]
    assert 0.95 <= sum(s or 0.0 for s in shares) <= 1.0, shares


def test_app_process_under_load(llm_process: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = Process(
        "examples.rag_chatbot",
        [],
        tmp_path,
        env={"OPENAI_BASE_URL": llm_process, "CHATBOT_DB": str(tmp_path / "memory.sqlite")},
    )
    try:
        url = f"http://127.0.0.1:{app.wait_port()}"
        assert loadgen_main(["--url", url, "--turns", "8", "--concurrency", "4", "--seed", "5"]) == 0
        summary = capsys.readouterr().out
        assert "8 chat turns" in summary and "errors     0" in summary
        assert "p50" in summary and "p95" in summary and "p99" in summary
        system = httpx.get(url + "/system", timeout=10).json()
        assert 0.0 <= system["system.cpu.utilization"] <= 1.0 and system["process.memory.usage"] > 0
    finally:
        code, err = app.stop()
    assert code == 0, err


def test_unreachable_provider_is_one_line_at_start(tmp_path: Path) -> None:
    with bind("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
    app = Process("examples.rag_chatbot", [], tmp_path, env={"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"})
    code, err = app.finish()
    assert code == 3
    (line,) = err.strip().splitlines()
    assert line.startswith(f"rag_chatbot: cannot reach the LLM provider at http://127.0.0.1:{port}/v1")


def test_bad_api_key_shows_the_providers_401_never_the_key(tmp_path: Path) -> None:
    (tmp_path / "llm").mkdir()
    server = Process(
        "examples.llm_server", ["--require-api-key"], tmp_path / "llm", env={"OPENAI_API_KEY": "sk-the-right-key-0000"}
    )
    try:
        base = f"http://127.0.0.1:{server.wait_port()}/v1"
        app = Process(
            "examples.rag_chatbot", [], tmp_path, env={"OPENAI_BASE_URL": base, "OPENAI_API_KEY": PROVIDER_KEY}
        )
        code, err = app.finish()
    finally:
        server.stop()
    assert code == 3
    (line,) = err.strip().splitlines()
    assert line.startswith("rag_chatbot: LLM provider returned 401: Incorrect API key provided")
    assert PROVIDER_KEY not in line and "OPENAI_API_KEY" in line


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "examples.llm_server", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert (
        line == f"llm_server: port {port} on 127.0.0.1 is already in use; stop that process or pass --port 0 "
        "for a free one"
    )


def test_missing_extra_is_one_line() -> None:
    code = (
        "import runpy, sys; sys.modules['bm25s'] = None; sys.argv = ['x', '--no-preflight', '--port', '0'];"
        " runpy.run_module('examples.rag_chatbot', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "rag_chatbot: bm25s is not installed: pip install 'otel-chatbot[example]'"


def test_client_disconnect_mid_stream_ends_every_span(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    slow = ServerConfig(
        ttft_ms=20.0, ttft_sigma=0.1, tokens_per_s=20.0, tokens_per_s_sd=0.0, outlier_rate=0.0, output_tokens_median=60
    )  # about 3 s of streaming
    headers = {"authorization": f"Bearer {APP_KEY}"}
    body = {"message": "How do I import my notes from Evernote?", "user_id": "user-1", "stream": True}
    with llm_url(slow) as base_url, serve_asgi(make_app(tracer_provider, base_url)) as app:
        with httpx.Client(base_url=app, timeout=30) as client:
            with client.stream("POST", "/chat", json=body, headers=headers) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("data: ") and "delta" in json.loads(line[6:]):
                        break  # the user closes the tab after the first words
        spans = _finished(span_exporter, 1)
    generation = one(spans, "chat gpt-4o-mini")
    assert generation.end_time is not None
    # Cut short, long before the ~3 s the whole answer takes, and no memory update of a half answer.
    assert duration(one(spans, "stream_processing")) < 2e9
    assert not [s for s in spans if s.name == "update_memory"]
