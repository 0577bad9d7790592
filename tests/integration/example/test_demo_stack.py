"""``./scripts/demo --stack`` against the real native stack (started by the session fixture on free ports)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from examples.rag_chatbot.app import BREAKDOWN_STAGES
from otel_chatbot.stack import RunningStack
from otel_chatbot.stack._jaeger import serves_ui
from tests._http import eventually, get_json, prom_query

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.stack
def test_demo_stack_sends_traces_to_jaeger_and_stage_metrics_to_prometheus(stack: RunningStack) -> None:
    env = {**os.environ, **stack.environ(), "OTEL_CHATBOT_STACK_RUN_DIR": str(stack.run_dir)}
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--stack", "--turns", "10", "--concurrency", "2", "--fast"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "already running" in proc.stdout  # the demo reused the stack; it never starts a second one
    assert f"Prometheus  {stack.prometheus_url}/graph" in proc.stdout
    # Jaeger's own links only where it serves its UI (a release); a source build's placeholder page is never linked.
    if serves_ui(stack.jaeger_url):
        assert f"Jaeger      {stack.jaeger_url}/search?service=rag-chatbot" in proc.stdout
        match = re.search(r"^a trace\s+(\S+)/trace/([0-9a-f]{32})\s", proc.stdout, re.MULTILINE)
        assert match and match.group(1) == stack.jaeger_url
    else:
        assert f"Jaeger      {stack.jaeger_url} (its API only: this Jaeger is a source build without UI" in proc.stdout
        assert f"{stack.jaeger_url}/search" not in proc.stdout
        match = re.search(r"^a trace\s+()#/trace/([0-9a-f]{32}) in the web view", proc.stdout, re.MULTILINE)
        assert match, proc.stdout
    assert f"otel-chatbot ui --jaeger {stack.jaeger_url} --prometheus {stack.prometheus_url}" in proc.stdout

    def trace_spans() -> list[str] | None:
        answer: Any = get_json(f"{stack.jaeger_url}/api/traces/{match.group(2)}") if match else None
        data = (answer or {}).get("data") or []
        return sorted(s["operationName"] for s in data[0]["spans"]) if data else None

    names = eventually(trace_spans, timeout=60)
    assert names is not None and "POST /chat" in names and "chat gpt-4o-mini" in names
    assert {"request_parsing", "auth_validation", "request_preparation"} <= set(names)

    def stage_calls() -> dict[str, float] | None:
        rows = prom_query(
            stack.prometheus_url, 'sum by (chatbot_stage) (traces_span_metrics_calls_total{service_name="rag-chatbot"})'
        )
        calls = {row["metric"].get("chatbot_stage", ""): float(row["value"][1]) for row in rows}
        # every stage, and all 10 requests (an earlier scrape can hold a partial export)
        done = calls.get("request_parsing") == 10 and all(calls.get(stage, 0) > 0 for stage in BREAKDOWN_STAGES)
        return calls if done else None

    calls = eventually(stage_calls, timeout=90)
    assert calls is not None, prom_query(
        stack.prometheus_url, 'traces_span_metrics_calls_total{service_name="rag-chatbot"}'
    )
    assert calls["request_parsing"] == 10
