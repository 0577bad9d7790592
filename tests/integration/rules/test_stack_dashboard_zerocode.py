"""The dashboard against the REAL stack for the zero-code example: no decorator, no otel_chatbot import in the app.

``opentelemetry-instrument uvicorn examples.plain_chatbot.app:app`` (our distro, the official openai GenAI
instrumentation, FastAPI and httpx) chats with the local LLM server and exports to the session's stack. Every panel
that the spans of such an app can feed returns data in Prometheus (requests, implied stages ``generation`` and
``embeddings``, tokens, USD, time to first token...); the panels that need stages only decorators create (the
request-stage breakdown, backend TTFB, streaming, response-cache hits) and the known gaps of the zero-code path are
listed with the reason and must stay empty, so the lists cannot go stale.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.llm_server import ServerConfig
from examples.llm_server import create_app as create_llm_app
from otel_chatbot.stack import RunningStack
from tests._http import eventually, http_ok
from tests._servers import free_port, serve_asgi, stop_process
from tests.integration.rules._assets import REPO, PanelQuery, panel_queries, panels, variable_values
from tests.integration.rules._prometheus import empty_panels, finite_samples

pytestmark = pytest.mark.stack

DATA_TIMEOUT_S = 90.0
LLM = ServerConfig(
    ttft_ms=20.0, ttft_sigma=0.1, tokens_per_s=800.0, tokens_per_s_sd=0.0, outlier_rate=0.0, output_tokens_median=20
)
# Panels whose stages only the decorated app makes: an app with no decorator has none of them.
NEEDS_DECORATED_STAGES = {
    "Cache hit rate": "chatbot.cache.hit is set on the decorated app's request_preparation stage",
    "Request-stage breakdown (mean ms per request)": "request_parsing, auth_validation, ... are decorated stages",
    "Backend TTFB p50/p95/p99 by provider/model": "backend_ttfb is a decorated stage inside generation",
    "Streaming duration p50/p95/p99": "stream_processing is a decorated stage",
}
# Known gaps of the zero-code path, kept strict: when the data arrives, the test says to move the panel back.
ZERO_CODE_GAPS: dict[str, str] = {}
EMPTY_FOR_ZERO_CODE = {**NEEDS_DECORATED_STAGES, **ZERO_CODE_GAPS}


def _chat(base: str, index: int) -> None:
    body = {"message": f"How do I reset my password? ({index})", "user_id": f"u{index % 5}", "stream": index % 2 == 1}
    request = urllib.request.Request(
        f"{base}/chat",
        data=json.dumps(body).encode(),
        headers={"authorization": "Bearer demo-acme", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        response.read()


@pytest.fixture(scope="module")
def zero_code_run(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """Chat traffic (one turn a second) through the zero-code app until every panel it can feed has data.

    Yields the service name and the panel queries (outside EMPTY_FOR_ZERO_CODE) still without data.
    """
    service = f"dash-zerocode-{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("dash-zerocode") / "app.log"
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    uvicorn = shutil.which("uvicorn", path=str(Path(sys.executable).parent))
    assert instrument and uvicorn, "opentelemetry-instrument and uvicorn come with the dev extras"
    queries = [q for q in panel_queries(variable_values(service=service)) if q.panel not in EMPTY_FOR_ZERO_CODE]
    with serve_asgi(create_llm_app(LLM), access_log=False) as llm_url:
        port = free_port()
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OTEL_", "CHATBOT_", "OPENAI_")) or k == "OTEL_CHATBOT_EXPORT_BUFFER"  # the test's own
        }
        environ.update(
            {
                "PYTHONPATH": str(REPO),
                "OPENAI_BASE_URL": f"{llm_url}/v1",
                "OPENAI_API_KEY": "sk-zero-code-dashboard",
                "OTEL_SERVICE_NAME": service,
                "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector_otlp_grpc_url,
                "OTEL_METRIC_EXPORT_INTERVAL": "1000",
                "OTEL_BSP_SCHEDULE_DELAY": "200",
                "OTEL_PYTHON_DISTRO": "otel_chatbot",
            }
        )
        with log.open("w") as err:
            argv = [
                instrument,
                uvicorn,
                "examples.plain_chatbot.app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ]
            proc = subprocess.Popen(argv, cwd=REPO, env=environ, stdout=subprocess.DEVNULL, stderr=err, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            ready = eventually(lambda: http_ok(f"{base}/health") if proc.poll() is None else False, timeout=60)
            assert ready, f"the zero-code app did not start:\n{log.read_text()}"
            pending: list[PanelQuery] = list(queries)
            turns = iter(range(10_000))

            def probe() -> list[str] | None:
                nonlocal pending
                _chat(base, next(turns))  # a steady flow, so that rate() has increases between scrapes
                pending = [q for q in pending if not finite_samples(stack.prometheus_url, q.expr)]
                return [] if not pending else None

            eventually(probe, timeout=DATA_TIMEOUT_S, interval=1.0)
            yield service, [q.name for q in pending]
        finally:
            stop_process(proc)


def _titles() -> list[str]:
    return [p["title"] for p in panels()]


@pytest.mark.parametrize("title", [t for t in _titles() if t not in EMPTY_FOR_ZERO_CODE])
def test_panel_has_data_for_the_zero_code_app(zero_code_run: tuple[str, list[str]], title: str) -> None:
    _, empty = zero_code_run
    assert not [name for name in empty if name.startswith(f"{title} [")], empty


@pytest.mark.parametrize("title", sorted(EMPTY_FOR_ZERO_CODE))
def test_panel_without_zero_code_data_stays_empty(
    stack: RunningStack, zero_code_run: tuple[str, list[str]], title: str
) -> None:
    service, _ = zero_code_run
    queries = [q for q in panel_queries(variable_values(service=service)) if q.panel == title]
    assert queries and empty_panels(stack.prometheus_url, queries) == [q.name for q in queries], (
        f"{title!r} has data for the zero-code app now; it was listed because: {EMPTY_FOR_ZERO_CODE[title]}"
    )
