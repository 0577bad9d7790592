"""Zero code, with real processes: ``opentelemetry-instrument uvicorn examples.plain_chatbot.app:app``.

The app imports nothing from otel_chatbot. Our distro and configurator (entry points of the installed package) set
everything up from the documented variables; the official OpenTelemetry GenAI instrumentation of the openai SDK
(``opentelemetry-instrumentation-genai-openai``) makes the ``chat`` and ``embeddings`` spans, FastAPI and httpx the
server and client spans. Against the local LLM server, whose answers carry their usage, and the real native stack:

- the side port's ``/metrics`` and ``/metrics/latency``, the report written at exit and the ledger show the
  ``generation`` and ``embeddings`` stages with exactly the tokens the server reported, priced;
- the stack's Prometheus gets the same token totals and a positive cost (SDK metrics over OTLP), and the FastAPI
  server spans (span metrics).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from examples.llm_server import ServerConfig
from examples.llm_server import create_app as create_llm_app
from otel_chatbot import env
from otel_chatbot.spend import Ledger, TokenUsage, default_table
from otel_chatbot.stack import RunningStack
from otel_chatbot.stats import StatsSnapshot
from tests._http import eventually, get_json, http_ok, prom_query, prom_scalar
from tests._servers import free_port, serve_asgi

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]
SERVICE = "zero-code-bot"
N = 6  # requests: every other one streamed
BUDGET_USD = 0.0002  # a soft budget the N calls (~$0.0008) exceed: one alert
APP_KEY = "demo-acme"
CHAT_MODEL, EMBEDDINGS_MODEL = "gpt-4o-mini", "text-embedding-3-small"
QUESTIONS = (
    "How do I reset my password?",
    "Can I export all my notes?",
    "How does sync work offline?",
    "How do I share a notebook with a guest?",
    "What does the Business plan cost?",
    "How do I turn on two-factor authentication?",
)
LLM = ServerConfig(
    ttft_ms=20.0, ttft_sigma=0.1, tokens_per_s=800.0, tokens_per_s_sd=0.0, outlier_rate=0.0, output_tokens_median=20
)


@dataclass
class Calls:
    """What the LLM server reported, per model: one TokenUsage per call, from the app's answers."""

    usage: dict[str, list[TokenUsage]] = field(default_factory=lambda: {CHAT_MODEL: [], EMBEDDINGS_MODEL: []})

    def add(self, model: str, usage: dict[str, Any]) -> None:
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        self.usage[model].append(
            TokenUsage(int(usage["prompt_tokens"]), int(usage.get("completion_tokens") or 0), int(cached))
        )

    def tokens(self, model: str, kind: str) -> int:
        return sum(getattr(u, kind) for u in self.usage[model])

    @property
    def input_tokens(self) -> int:
        return self.tokens(CHAT_MODEL, "input_tokens") + self.tokens(EMBEDDINGS_MODEL, "input_tokens")

    def usd(self, model: str) -> float:
        table = default_table()
        costs = [table.cost_float(u, model, "openai") for u in self.usage[model]]
        assert all(c is not None and c > 0 for c in costs), costs
        return sum(c for c in costs if c is not None)


@dataclass
class Run:
    calls: Calls
    metrics_text: str  # the side port's /metrics, after the N requests
    latency: dict[str, Any]  # the side port's /metrics/latency
    returncode: int
    stderr: str
    report_file: Path
    ledger: Path


def _post(url: str, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {APP_KEY}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return bytes(response.read())


def _chat(base: str, index: int, calls: Calls) -> None:
    stream = index % 2 == 1
    raw = _post(f"{base}/chat", {"message": QUESTIONS[index], "user_id": f"u{index}", "stream": stream})
    if stream:
        events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
        assert [e for e in events if "delta" in e], events
        answer = events[-1]
        assert answer["done"] is True
    else:
        answer = json.loads(raw)
        assert answer["answer"]
    calls.add(CHAT_MODEL, answer["usage"])
    calls.add(EMBEDDINGS_MODEL, answer["embeddings_usage"])


def _environment(stack: RunningStack, llm_url: str, metrics_port: int, tmp: Path) -> dict[str, str]:
    # the suite's export-buffer folder stays (tests/conftest.py): never the real state folder
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") or k == env.OTEL_CHATBOT_EXPORT_BUFFER}
    environ.update(
        {
            "PYTHONPATH": str(ROOT),
            "OPENAI_BASE_URL": f"{llm_url}/v1",
            "OPENAI_API_KEY": "sk-zero-code-test",
            "OTEL_SERVICE_NAME": SERVICE,
            "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector_otlp_grpc_url,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_PYTHON_DISTRO": "otel_chatbot",
            env.OTEL_CHATBOT_METRICS_PORT: str(metrics_port),
            env.OTEL_CHATBOT_METRICS_HOST: "127.0.0.1",
            env.OTEL_CHATBOT_REPORT_FILE: str(tmp / "report-{pid}.json"),
            env.OTEL_CHATBOT_LEDGER: str(tmp / "usage.db"),
            env.OTEL_CHATBOT_BUDGETS: f"{BUDGET_USD}/1d,50/1d/tenant/hard",  # the first is spent by the N calls
        }
    )
    # Should OpenLLMetry's openai instrumentation be installed too: its entry point has the same name as the official
    # one ("openai"), so OTEL_PYTHON_DISABLED_INSTRUMENTATIONS cannot switch off one without the other. Both then run,
    # and the accounting rule (usage counts once, on the innermost span) keeps every total below exact.
    return environ


def _settled_metrics(side: str, timeout: float = 15.0) -> str:
    """The side port's ``/metrics`` once it counts the N server spans (or the last one read, after ``timeout``).

    The ASGI server span ends after the last body message is sent, so the client can hold the N-th answer a moment
    before that span has ended and been counted: reading once right after the N-th answer raced with it.
    """
    text = ""

    def settled() -> str | None:
        nonlocal text
        with urllib.request.urlopen(f"{side}/metrics", timeout=10) as response:
            text = response.read().decode()
        served = sum(
            value
            for labels, value in _samples(text, "traces_span_metrics_calls_total")
            if labels.get("span_kind") == "SPAN_KIND_SERVER"
        )
        return text if served >= N else None

    return eventually(settled, timeout=timeout, interval=0.2) or text


@pytest.fixture(scope="module")
def run(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("zerocode")
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    uvicorn = shutil.which("uvicorn", path=str(Path(sys.executable).parent))
    assert instrument and uvicorn, "opentelemetry-instrument and uvicorn come with the dev extras"
    with serve_asgi(create_llm_app(LLM), access_log=False) as llm_url:
        app_port, metrics_port = free_port(), free_port()
        proc = subprocess.Popen(
            [instrument, uvicorn, "examples.plain_chatbot.app:app", "--port", str(app_port), "--log-level", "warning"],
            cwd=ROOT,
            env=_environment(stack, llm_url, metrics_port, tmp),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        base, side = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{metrics_port}"
        try:
            ready = eventually(lambda: http_ok(f"{base}/health") if proc.poll() is None else False, timeout=60)
            assert ready, f"the app did not start: {proc.communicate(timeout=10)[1] if proc.poll() is not None else ''}"
            calls = Calls()
            for index in range(N):
                _chat(base, index, calls)
            metrics_text = _settled_metrics(side)
            latency = get_json(f"{side}/metrics/latency")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                _, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
    (report_file,) = tmp.glob("report-*.json")
    yield Run(calls, metrics_text, latency, proc.returncode, stderr, report_file, tmp / "usage.db")


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """``(labels, value)`` of every sample of ``name`` in a Prometheus text exposition."""
    found = []
    for match in re.finditer(rf"^{re.escape(name)}(?:\{{(.*?)\}})? (\S+)$", text, re.MULTILINE):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        found.append((labels, float(match.group(2))))
    return found


def _by_stage(text: str, name: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, value in _samples(text, name):
        assert labels["service_name"] == SERVICE
        stage = labels.get("chatbot_stage", "")
        totals[stage] = totals.get(stage, 0.0) + value
    return totals


def test_the_app_has_no_telemetry_code() -> None:
    sources = {path.name: path.read_text() for path in (ROOT / "examples" / "plain_chatbot").glob("*.py")}
    assert set(sources) == {"__init__.py", "app.py"}
    for name, source in sources.items():
        imports = re.findall(r"^\s*(?:from|import) (\S+)", source, re.MULTILINE)
        assert not [m for m in imports if m.startswith(("otel_chatbot", "opentelemetry"))], name
        # FastAPI's routes and the lifespan are the only decorators: nothing traces a function
        decorators = re.findall(r"^\s*@(\S+?)[(\n]", source + "\n", re.MULTILINE)
        assert set(decorators) <= {"app.get", "app.post", "contextlib.asynccontextmanager"}, decorators


def test_the_process_exits_cleanly_and_logs_no_error(run: Run) -> None:
    assert run.returncode == 128 + signal.SIGTERM, run.stderr  # SIGTERM became a clean exit: atexit hooks ran
    assert "Traceback" not in run.stderr and "Failed to auto initialize" not in run.stderr, run.stderr


def test_the_budget_from_the_environment_alerts_once(run: Run) -> None:
    alerts = re.findall(r"otel-chatbot budget 'soft \$([0-9.]+)/1d': \$([0-9.]+) spent", run.stderr)
    assert len(alerts) == 1, run.stderr  # once per window; the per-tenant one never applies (no tenant id)
    assert float(alerts[0][0]) == BUDGET_USD and float(alerts[0][1]) >= BUDGET_USD


def test_side_port_metrics_show_the_servers_tokens_and_their_price(run: Run) -> None:
    calls, text = run.calls, run.metrics_text
    assert _by_stage(text, "gen_ai_client_inference_usage_input_tokens_total") == {
        "generation": calls.tokens(CHAT_MODEL, "input_tokens"),
        "embeddings": calls.tokens(EMBEDDINGS_MODEL, "input_tokens"),
    }
    assert _by_stage(text, "gen_ai_client_inference_usage_output_tokens_total") == {
        "generation": calls.tokens(CHAT_MODEL, "output_tokens")
    }
    cost = _by_stage(text, "chatbot_cost_usd_total")
    assert math.isclose(cost["generation"], calls.usd(CHAT_MODEL), rel_tol=1e-9)
    assert math.isclose(cost["embeddings"], calls.usd(EMBEDDINGS_MODEL), rel_tol=1e-9)
    server_spans = {
        labels["span_name"]: value
        for labels, value in _samples(text, "traces_span_metrics_calls_total")
        if labels["span_kind"] == "SPAN_KIND_SERVER"
    }
    assert server_spans == {"POST /chat": N}  # FastAPI instrumented; /health and /metrics excluded


def test_side_port_latency_has_the_implied_stages(run: Run) -> None:
    assert set(run.latency) == {"generation", "embeddings"}
    assert run.latency["generation"]["count"] == N
    assert run.latency["embeddings"]["count"] == N
    assert run.latency["generation"]["p50_ms"] > 0


def test_the_report_written_at_exit_has_stages_tokens_and_usd(run: Run) -> None:
    snapshot = StatsSnapshot.load(run.report_file)
    assert snapshot.service_name == SERVICE
    calls = run.calls
    for stage, model in (("generation", CHAT_MODEL), ("embeddings", EMBEDDINGS_MODEL)):
        stats = snapshot.stage(stage)
        assert stats is not None and stats.latency.count == N, snapshot.stages
        assert (stats.input_tokens, stats.output_tokens) == (
            calls.tokens(model, "input_tokens"),
            calls.tokens(model, "output_tokens"),
        )
        assert math.isclose(stats.cost_usd, calls.usd(model), rel_tol=1e-9)
    done = subprocess.run(
        [sys.executable, "-m", "otel_chatbot", "report", str(run.report_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^generation / {CHAT_MODEL}\s+{N}\s", done.stdout, re.MULTILINE), done.stdout
    assert f"{run.calls.tokens(CHAT_MODEL, 'input_tokens'):,}" in done.stdout


def test_the_ledger_has_one_row_per_call_with_the_servers_tokens(run: Run) -> None:
    ledger = Ledger.open(str(run.ledger))
    try:
        rows = {row.key: row for row in ledger.usage("model", since=0)}
    finally:
        ledger.close()
    calls = run.calls
    assert {k: (r.calls, r.input_tokens, r.output_tokens) for k, r in rows.items()} == {
        CHAT_MODEL: (N, calls.tokens(CHAT_MODEL, "input_tokens"), calls.tokens(CHAT_MODEL, "output_tokens")),
        EMBEDDINGS_MODEL: (N, calls.tokens(EMBEDDINGS_MODEL, "input_tokens"), 0),
    }
    assert math.isclose(rows[CHAT_MODEL].cost_usd, calls.usd(CHAT_MODEL), rel_tol=1e-6)


def test_the_stacks_prometheus_gets_tokens_cost_and_server_spans(stack: RunningStack, run: Run) -> None:
    selector = f'service_name="{SERVICE}"'
    tokens = f"sum(gen_ai_client_inference_usage_input_tokens_total{{{selector}}})"
    found = eventually(
        lambda: v if (v := prom_scalar(stack.prometheus_url, tokens)) == run.calls.input_tokens else None, 60
    )
    assert found == run.calls.input_tokens, prom_query(
        stack.prometheus_url, f"gen_ai_client_inference_usage_input_tokens_total{{{selector}}}"
    )
    cost = prom_scalar(stack.prometheus_url, f"sum(chatbot_cost_usd_total{{{selector}}})")
    assert cost is not None and math.isclose(
        cost, run.calls.usd(CHAT_MODEL) + run.calls.usd(EMBEDDINGS_MODEL), rel_tol=1e-6
    )
    server = f'sum(traces_span_metrics_calls_total{{{selector},span_name="POST /chat"}})'
    calls = eventually(lambda: v if (v := prom_scalar(stack.prometheus_url, server)) == N else None, 60)
    assert calls == N, prom_query(stack.prometheus_url, f"traces_span_metrics_calls_total{{{selector}}}")
