"""Planted secrets never reach a sink: the example app, run as a real process exporting to the real stack.

The app (``python -m examples.rag_chatbot``) serves chat requests that carry an API key in the query string
(``?api_key=PLANTED-QS-...``), the client's key in ``Authorization: Bearer PLANTED-HDR-...`` (it is a valid app key)
plus an ``X-Api-Key`` header, and a prompt (and a feedback comment) with ``PLANTED-PROMPT-...`` (content capture
off, the default). Header capture is switched ON for server and client requests (``.*``), the worst case a user can
opt into; the provider key (``PLANTED-PROVIDER-...``) goes out in the httpx client's ``Authorization`` header. The
usage ledger is a real PostgreSQL whose URL carries ``PLANTED-PW-...``; a second start with the database unreachable
runs the error path.

Then every sink is read and grepped for every planted string: Jaeger (the service's traces, raw JSON), Prometheus
(series, label names and every label's values), the Collector's ``/metrics``, the app's ``/metrics``,
``/metrics/latency`` and ``/otel-chatbot/api/view``, the ledger's rows, the app's stdout/stderr, the ``--dump`` file
(``tel.dump()``), ``otel-chatbot usage`` and ``otel-chatbot stack status``, and the export buffer when there is one.
Each sink must also hold the request's other data, so the test can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from examples.llm_server import ServerConfig
from examples.llm_server import create_app as create_llm_app
from otel_chatbot.stack import RunningStack
from tests._http import eventually, get_json, http_ok
from tests._postgres import postgres_server
from tests._servers import free_port, serve_asgi, stop_process

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]
TAG = uuid.uuid4().hex[:10]
QS = f"PLANTED-QS-{TAG}"
HDR = f"PLANTED-HDR-{TAG}"
XKEY = f"PLANTED-XKEY-{TAG}"
PROMPT = f"PLANTED-PROMPT-{TAG}"
PROVIDER = f"PLANTED-PROVIDER-{TAG}"
PW = f"PLANTED-PW-{TAG}"
PLANTED = (QS, HDR, XKEY, PROMPT, PROVIDER, PW)
LLM = ServerConfig(
    ttft_ms=20.0, ttft_sigma=0.1, tokens_per_s=2000.0, tokens_per_s_sd=0.0, outlier_rate=0.0, output_tokens_median=12
)
REQUESTS = 4


def _leaks(text: str) -> list[str]:
    return [secret for secret in PLANTED if secret in text or secret.lower() in text.lower()]


def _text(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> str:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
    return body.decode("utf-8", "replace")


def _containing(url: str, needle: str) -> str | None:
    text = _text(url)
    return text if needle in text else None


def _env(stack: RunningStack, service: str, ledger: str, llm: str) -> dict[str, str]:
    # tests/conftest.py clears OTEL_* before each test: an OTEL_CHATBOT_* variable here was set by a suite fixture
    # (the per-test export buffer), so it is passed on.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "CHATBOT_", "OPENAI_")) or k.startswith("OTEL_CHATBOT_")
    }
    return {
        **env,
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector_otlp_grpc_url,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_CHATBOT_LEDGER": ledger,
        "OPENAI_BASE_URL": llm,
        "OPENAI_API_KEY": PROVIDER,
        "CHATBOT_API_KEYS": f"{HDR}=acme",
        # The worst case a user can opt into: every request header of server and client spans captured.
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": ".*",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST": ".*",
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def _app(env: dict[str, str], tmp: Path, dump: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port_file = tmp / "app.port"
    with (tmp / "app.out").open("w") as out, (tmp / "app.err").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "examples.rag_chatbot", "--port", "0", "--port-file", str(port_file),
             "--dump", str(dump)],
            cwd=ROOT, env=env, stdout=out, stderr=err, text=True,
        )  # fmt: skip
    try:

        def port() -> int | None:
            if proc.poll() is not None:
                raise AssertionError(f"the app exited with {proc.returncode}: {(tmp / 'app.err').read_text()}")
            return int(port_file.read_text()) if port_file.exists() else None

        found = eventually(port, timeout=45, interval=0.1)
        assert found is not None, (tmp / "app.err").read_text()
        url = f"http://127.0.0.1:{found}"
        assert eventually(lambda: http_ok(f"{url}/health"), timeout=30, interval=0.1)
        yield url, proc
    finally:
        stop_process(proc)


def _chat(url: str, i: int) -> dict[str, Any]:
    body = {"message": f"{PROMPT}: how do I reset my password, take {i}", "user_id": f"user-{i}", "stream": i == 0}
    text = _text(
        f"{url}/chat?api_key={QS}&lang=en",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {HDR}", "X-Api-Key": XKEY, "Content-Type": "application/json"},
    )
    if i == 0:  # streamed: server-sent events
        return {"stream": text}
    answer: dict[str, Any] = json.loads(text)
    return answer


def _jaeger(stack: RunningStack, service: str) -> str | None:
    answer = get_json(f"{stack.jaeger_url}/api/traces", {"service": service, "limit": "100"})
    traces = answer.get("data") or []
    text = json.dumps(answer)
    # Every request's trace is there, with its server span's query (``lang=en``), before the sink is judged.
    done = len(traces) >= REQUESTS and text.count("lang=en") >= REQUESTS
    return text if done else None


def _prometheus(stack: RunningStack, service: str) -> str | None:
    series = get_json(f"{stack.prometheus_url}/api/v1/series", {"match[]": f'{{service_name="{service}"}}'})
    if not series.get("data"):
        return None
    names = get_json(f"{stack.prometheus_url}/api/v1/labels")["data"]
    values = {name: get_json(f"{stack.prometheus_url}/api/v1/label/{name}/values")["data"] for name in names}
    return json.dumps({"series": series, "labels": names, "values": values})


def _ledger_rows(pg_url: str) -> str:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT * FROM otel_chatbot_usage").fetchall()
    assert rows, "the ledger holds no row: the sink is empty"
    return json.dumps([list(map(str, row)) for row in rows])


def _cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "otel_chatbot", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    return f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_planted_secrets_reach_no_sink(stack: RunningStack, tmp_path: Path) -> None:
    service = f"planted-secrets-{TAG}"
    sinks: dict[str, str] = {}
    with postgres_server() as pg, serve_asgi(create_llm_app(LLM), access_log=False) as llm:
        ledger = pg.replace("postgresql://postgres@", f"postgresql://postgres:{PW}@")  # trust auth: any password
        env = _env(stack, service, ledger, f"{llm}/v1")
        dump = tmp_path / "dump.json"
        with _app(env, tmp_path, dump) as (url, proc):
            answers = [_chat(url, i) for i in range(REQUESTS)]
            trace_id = answers[1]["trace_id"]
            comment = json.dumps({"trace_id": trace_id, "score": 1, "comment": f"{PROMPT} feedback"}).encode()
            _text(f"{url}/feedback?token={QS}", comment, {"Authorization": f"Bearer {HDR}"})
            sinks["app /metrics"] = _text(f"{url}/metrics")
            sinks["app /metrics/latency"] = _text(f"{url}/metrics/latency")
            sinks["app /otel-chatbot/api/view"] = _text(f"{url}/otel-chatbot/api/view")
            jaeger = eventually(lambda: _jaeger(stack, service), timeout=90, interval=0.5)
            assert jaeger is not None, "Jaeger never held every request's trace"
            sinks["Jaeger"] = jaeger
            prometheus = eventually(lambda: _prometheus(stack, service), timeout=90, interval=0.5)
            assert prometheus is not None, "Prometheus never held the service's series"
            sinks["Prometheus"] = prometheus
            collector = eventually(lambda: _containing(stack.collector_metrics_url, service), timeout=90)
            assert collector is not None
            sinks["Collector /metrics"] = collector
            stop_process(proc)
        assert proc.returncode == 0, (tmp_path / "app.err").read_text()
        sinks["ledger rows"] = _ledger_rows(pg)
        sinks["otel-chatbot usage"] = _cli("usage", "--ledger", ledger, "--by", "tenant", "--since", "1h")
        assert "acme" in sinks["otel-chatbot usage"]
        # The error path: the same URL with nothing listening (and a unparsable one) must not show the password.
        pg_port = str(urllib.parse.urlsplit(pg).port)
        sinks["usage, unreachable"] = _cli("usage", "--ledger", ledger.replace(f":{pg_port}/", f":{free_port()}/"))
        assert "usage ledger" in sinks["usage, unreachable"]
        sinks["dump file"] = dump.read_text()
        sinks["app stdout"] = (tmp_path / "app.out").read_text()
        sinks["app stderr"] = (tmp_path / "app.err").read_text()
    unreachable = f"postgresql://postgres:{PW}@127.0.0.1:{free_port()}/postgres"
    bad = subprocess.run(
        [sys.executable, "-m", "examples.rag_chatbot", "--port", "0", "--no-preflight"],
        cwd=ROOT, env={**env, "OTEL_CHATBOT_LEDGER": unreachable}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "OTEL_CHATBOT_LEDGER" in bad.stderr, bad.stderr
    sinks["app, ledger unreachable"] = bad.stdout + bad.stderr
    sinks["otel-chatbot stack status"] = _cli("stack", "status", "--run-dir", str(stack.run_dir))
    for name, value in os.environ.items():  # folders the suite gave the app (the export buffer): raw bytes
        if name.startswith("OTEL_CHATBOT_") and value and Path(value).is_dir():
            sinks[name] = "".join(p.read_bytes().decode("latin-1") for p in Path(value).rglob("*") if p.is_file())

    (tmp_path / "sinks.json").write_text(json.dumps(sinks, indent=1))  # for a failure's post-mortem
    leaks = {name: found for name, text in sinks.items() if (found := _leaks(text))}
    assert not leaks, f"planted secrets found: {leaks}"
    # The sinks hold the requests (so a leak would show): the scrubbed query, the captured safe headers, the model.
    assert "api_key=[REDACTED]&lang=en" in sinks["Jaeger"] and "http.request.header.content_type" in sinks["Jaeger"]
    tags = [
        (tag["key"], str(tag["value"]))
        for trace in json.loads(sinks["Jaeger"])["data"]
        for span in trace["spans"]
        for tag in span["tags"]
    ]
    for header in ("authorization", "x_api_key"):  # captured (the opt-in is on), masked
        shown = [value for key, value in tags if key == f"http.request.header.{header}"]
        assert shown and all("[REDACTED]" in value for value in shown), (header, shown)
    assert "gpt-4o-mini" in sinks["ledger rows"] and "gpt-4o-mini" in sinks["app /metrics"]
    assert service in sinks["dump file"] or "gpt-4o-mini" in sinks["dump file"]
    assert "healthy" in sinks["otel-chatbot stack status"]
