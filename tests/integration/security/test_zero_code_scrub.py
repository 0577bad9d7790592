"""Zero code (``opentelemetry-instrument`` with our distro): FastAPI server spans get the same scrubbing as with
``oc.instrument_fastapi``: secret query values and opted-in secret headers masked. A real ``opentelemetry-instrument``
process; its spans are read back from an in-memory exporter added to the provider our configurator installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLANTED = "PLANTED-ZC-41b7"

_SCRIPT = """
import json
import sys
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_chatbot.telemetry import _zero_code

assert _zero_code._STARTED is not None, "our configurator did not run"
exporter = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
app = FastAPI()

@app.get("/chat")
def chat() -> dict[str, str]:
    return {}

with TestClient(app) as client:
    client.get("/chat?api_key=PLANTED&lang=en", headers={"Authorization": "Bearer PLANTED", "X-Request-Id": "r-1"})
spans = [{"name": s.name, "attributes": dict(s.attributes or {})} for s in exporter.get_finished_spans()]
with open(sys.argv[1], "w") as out:
    json.dump(spans, out)
""".replace("PLANTED", PLANTED)


@pytest.mark.parametrize("semconv", ["", "http/dup"])
def test_zero_code_server_spans_are_scrubbed(tmp_path: Path, semconv: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(_SCRIPT)
    dump = tmp_path / "spans.json"
    # tests/conftest.py clears OTEL_* before each test: an OTEL_CHATBOT_* variable here is a suite fixture's (the
    # per-test export buffer), passed on.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") or k.startswith("OTEL_CHATBOT_")}
    env.update(
        {
            "OTEL_SERVICE_NAME": "zero-code-scrub",
            "OTEL_PYTHON_DISTRO": "otel_chatbot",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": ".*",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS": "x-internal",  # ours are added to it
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,openai_v2,anthropic,system_metrics",
        }
    )
    if semconv:
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = semconv
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert instrument is not None
    proc = subprocess.run(
        [instrument, sys.executable, str(script), str(dump)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = dump.read_text()
    assert "GET /chat" in text, text[:2000]
    assert "api_key=[REDACTED]" in text and "lang=en" in text
    assert "[REDACTED]" in text and "r-1" in text  # headers captured: the safe one as is, Authorization masked
    assert PLANTED not in text + proc.stdout + proc.stderr
