"""Helpers for the stack tests: running the test chatbot app in its own process, and reading Jaeger.

HTTP JSON, PromQL and polling helpers are shared by every folder: ``tests/_http.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from otel_chatbot.stack import RunningStack
from tests._http import get_json

APP = Path(__file__).with_name("_chatbot_app.py")


def run_app(endpoint: str, service: str, requests: int) -> dict[str, Any]:
    """Run ``_chatbot_app.py`` in its own process against ``endpoint``; return what it reports it sent."""
    done = subprocess.run(
        [sys.executable, str(APP), "--service", service, "--endpoint", endpoint, "--requests", str(requests)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sent: dict[str, Any] = json.loads(done.stdout)
    assert sent["flushed"], done.stderr
    return sent


def jaeger_traces(stack: RunningStack, service: str, limit: int = 1000) -> list[dict[str, Any]]:
    """All traces Jaeger's query API returns for ``service`` (``/api/traces``)."""
    answer = get_json(f"{stack.jaeger_url}/api/traces", {"service": service, "limit": str(limit)})
    traces: list[dict[str, Any]] = answer["data"] or []
    return traces
