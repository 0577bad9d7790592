"""Several worker processes behind one port -> otelcol-chatbot -> Prometheus: the totals are every request's.

The example chatbot runs as REAL worker processes (``uvicorn --workers 2`` and gunicorn with uvicorn workers, the
importable ``examples.rag_chatbot.asgi:app``) on the local LLM server, exporting spans and SDK metrics over OTLP to
the session's stack. After N chat requests through the shared port, Prometheus (query API) must count N generations
and N inference calls, the tokens the LLM server reported, over exactly two ``instance`` series (one per worker);
with a 10% ratio sampler the SDK-metric totals stay exact while the span metrics see only the sampled spans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from examples.llm_server import ServerConfig
from examples.llm_server import create_app as create_llm_app
from otel_chatbot import semconv
from otel_chatbot.stack import RunningStack
from tests._http import eventually, http_ok, prom_query, prom_scalar
from tests._servers import free_port, serve_asgi, stop_process

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]
N = 16
WORKERS = 2
CONCURRENCY = 8
APP_KEY = "demo-acme"
# Fast and steady: ~40 ms to the first token, ~20 tokens at 2000 tokens/s, no outliers or failures.
LLM = ServerConfig(
    ttft_ms=40.0, ttft_sigma=0.1, tokens_per_s=2000.0, tokens_per_s_sd=0.0, outlier_rate=0.0, output_tokens_median=20
)
ASGI_APP = "examples.rag_chatbot.asgi:app"
COMMANDS = {
    "uvicorn": [
        "-m", "uvicorn", ASGI_APP, "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", "{port}",
        "--log-level", "info", "--no-access-log",
    ],
    "gunicorn": [
        "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", str(WORKERS), "-b", "127.0.0.1:{port}",
        "--log-level", "info", "--no-control-socket", ASGI_APP,  # no socket in ~/.gunicorn shared by parallel runs
    ],
}  # fmt: skip
STARTED = "Application startup complete"  # uvicorn's log line, once per worker (under gunicorn too)
DATA_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Sent:
    """What the chat requests got back: the usage the LLM server reported, summed."""

    service: str
    requests: int
    input_tokens: int
    output_tokens: int


@contextmanager
def _workers(server: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """The chatbot under ``server`` with WORKERS processes; yields its base URL once every worker has started."""
    port = free_port()
    argv = [sys.executable, *(a.format(port=port) for a in COMMANDS[server])]
    with log.open("w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:

        def started() -> bool | None:
            if proc.poll() is not None:
                raise AssertionError(f"{server} exited with {proc.returncode}:\n{log.read_text()}")
            return True if log.read_text().count(STARTED) >= WORKERS else None

        assert eventually(started, timeout=90, interval=0.2), f"{server}: workers did not start:\n{log.read_text()}"
        url = f"http://127.0.0.1:{port}"
        assert eventually(lambda: http_ok(f"{url}/health"), timeout=30, interval=0.1), log.read_text()
        yield url
    finally:
        stop_process(proc)


def _chat(url: str, i: int) -> dict[str, Any]:
    """One non-streamed chat turn on a fresh connection (so the kernel may hand it to either worker)."""
    body = {"message": f"question {i}: how do I reset my password, variant {uuid.uuid4().hex}", "user_id": f"u{i}"}
    request = urllib.request.Request(
        f"{url}/chat",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {APP_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    assert answer["cached"] is False and answer["usage"], answer
    return answer


def _run(
    stack: RunningStack, tmp_path: Path, server: str, extra_env: dict[str, str], *, sampled: bool
) -> tuple[Sent, dict[str, float | None]]:
    """Start the workers, send N chat requests CONCURRENCY at a time and wait for Prometheus's totals to match.

    Returns what the LLM server reported and the Prometheus totals (asserted equal to it).
    """
    service = f"workers-{server}-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CHATBOT_", "OPENAI_"))},
        **{k: v for k, v in os.environ.items() if k == "OTEL_CHATBOT_EXPORT_BUFFER"},  # this test's own folder
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector_otlp_grpc_url,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OPENAI_API_KEY": "local-key",
        **extra_env,
    }
    with serve_asgi(create_llm_app(LLM), access_log=False) as llm:
        env["OPENAI_BASE_URL"] = f"{llm}/v1"
        with _workers(server, env, tmp_path / f"{server}.log") as url:
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                answers = list(pool.map(lambda i: _chat(url, i), range(N)))
            sent = Sent(
                service=service,
                requests=len(answers),
                input_tokens=sum(int(a["usage"]["prompt_tokens"]) for a in answers),
                output_tokens=sum(int(a["usage"]["completion_tokens"]) for a in answers),
            )
            # While the workers still run: their periodic metric export (every second here) carries the data.
            return sent, _wait_for_totals(stack, sent, sampled=sampled)


def _totals(stack: RunningStack, service: str) -> dict[str, float | None]:
    sel = f'service_name="{service}"'
    queries = {
        "generation_stages": f'sum({semconv.METRIC_STAGE_DURATION}_count{{{sel},chatbot_stage="generation"}})',
        "inference_calls": f"sum({semconv.METRIC_INFERENCE_DURATION}_count{{{sel}}})",
        "input_tokens": f"sum({semconv.METRIC_INPUT_TOKENS}{{{sel}}})",
        "output_tokens": f"sum({semconv.METRIC_OUTPUT_TOKENS}{{{sel}}})",
        "cost_usd": f"sum({semconv.METRIC_COST}{{{sel}}})",
        "instances": f"count(count by (instance) ({semconv.METRIC_INFERENCE_DURATION}_count{{{sel}}}))",
        "span_metric_generations": f'sum({semconv.METRIC_SPAN_CALLS}{{{sel},chatbot_stage="generation"}})',
    }
    return {name: prom_scalar(stack.prometheus_url, query) for name, query in queries.items()}


def _wait_for_totals(stack: RunningStack, sent: Sent, *, sampled: bool) -> dict[str, float | None]:
    want = {
        "generation_stages": sent.requests,
        "inference_calls": sent.requests,
        "input_tokens": sent.input_tokens,
        "output_tokens": sent.output_tokens,
        "instances": WORKERS,
    }
    if not sampled:
        want["span_metric_generations"] = sent.requests

    def probe() -> dict[str, float | None] | None:
        got = _totals(stack, sent.service)
        return got if all(got[k] == v for k, v in want.items()) else None

    got = eventually(probe, timeout=DATA_TIMEOUT_S, interval=0.5) or _totals(stack, sent.service)
    per_instance = prom_query(
        stack.prometheus_url,
        f'sum by (instance) ({semconv.METRIC_INFERENCE_DURATION}_count{{service_name="{sent.service}"}})',
    )
    assert {k: got[k] for k in want} == want, (got, per_instance)
    return got


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_prometheus_totals_of_two_workers_equal_every_request(stack: RunningStack, tmp_path: Path, server: str) -> None:
    sent, got = _run(stack, tmp_path, server, {}, sampled=False)
    assert sent.requests == N and sent.input_tokens > 0 and sent.output_tokens > 0
    assert got["cost_usd"] is not None and got["cost_usd"] > 0, got


def test_sdk_metric_totals_stay_exact_under_a_ratio_sampler(stack: RunningStack, tmp_path: Path) -> None:
    sampler = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    _, got = _run(stack, tmp_path, "uvicorn", sampler, sampled=True)
    # The span metrics see the sampled spans only (absent when none was sampled); the SDK metrics every call.
    assert (got["span_metric_generations"] or 0) < N, got
